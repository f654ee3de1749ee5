// Core::status(): the JSON behind `evergreen status` (counters of every subsystem).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>

#include "certs/certs.h"
#include "container/container_spawner.h"
#include "daemon/core.h"
#include "daemon/function_specs.h"

namespace evg::daemon {

namespace asio = boost::asio;
using nlohmann::json;

json Core::status() const {
  json j;
  j["thingName"] = cfg_.core_thing.thing_name;
  j["openBroker"] = cfg_.evergreen.mqtt.open_broker;
  j["streamManager"] = streamManagerStatus();
  if (jobs_) j["jobs"] = jobs_->status();
  j["streamManager"] = streamManagerStatus();
  if (broker_) {
    auto s = broker_->stats();
    j["mqtt"] = {{"tlsPort", broker_->tlsPort()},
                 {"plaintextPort", broker_->tcpPort()},
                 {"connections", s.connections},
                 {"connectedClients", s.connected_clients},
                 {"connectionsTotal", s.connections_total},
                 {"connectionsRefused", s.connections_refused},
                 {"messagesIn", s.messages_in},
                 {"messagesOut", s.messages_out},
                 {"droppedQueueFull", s.dropped_queue_full},
                 {"droppedOversize", s.dropped_oversize},
                 {"droppedSlowConsumer", s.dropped_slow_consumer},
                 {"droppedOfflineQos0", s.dropped_offline_qos0},
                 {"droppedRetainedFull", s.dropped_retained_full},
                 {"droppedRetainedBytes", s.dropped_retained_bytes},
                 {"droppedQueueBytes", s.dropped_queue_bytes},
                 {"retainedBytes", s.retained_bytes},
                 {"queuedBytes", s.queued_bytes},
                 {"persistence",
                  {{"enabled", s.persistence},
                   {"commits", s.persist_commits},
                   {"ops", s.persist_ops},
                   {"coalesced", s.persist_coalesced},
                   {"failures", s.persist_failures},
                   {"restoredSessions", s.restored_sessions},
                   {"restoredMessages", s.restored_messages},
                   {"restoredRetained", s.restored_retained}}},
                 {"protocolErrors", s.protocol_errors},
                 {"keepaliveTimeouts", s.keepalive_timeouts},
                 {"coalescedBatches", s.coalesced_batches},
                 {"retained", s.retained},
                 {"sessions", s.sessions}};
  }
  j["router"] = {{"subscriptions", policy_->group().subscriptions.size()},
                 {"toDevices", counters_.to_devices},
                 {"toFunctions", counters_.to_functions},
                 {"functionInvokeRefused", counters_.function_invoke_refused},
                 {"toCloud", counters_.to_cloud},
                 {"fromCloud", counters_.from_cloud},
                 {"pendingCloud", counters_.pending_cloud},
                 {"pendingShadow", counters_.pending_shadow},
                 {"toShadow", counters_.to_shadow},
                 {"pendingConnector", counters_.pending_connector},
                 {"unrouted", counters_.unrouted},
                 {"deniedTopic", counters_.denied},
                 {"publishRefusedAllOrError", counters_.publish_refused_all_or_error},
                 {"deployments", counters_.deployments},
                 {"deploymentsRejected", counters_.deployments_rejected}};
  {
    // Messages in by source kind, deliveries by source and target kind (also in /metrics).
    static constexpr const char* kKinds[] = {"device", "function", "cloud", "shadow", "connector"};
    json in = json::object(), out = json::object();
    for (size_t s = 0; s < 5; ++s) {
      in[kKinds[s]] = counters_.in_by_source[s];
      json row = json::object();
      for (size_t t = 0; t < 5; ++t) row[kKinds[t]] = counters_.out_by_source_target[s][t];
      out[kKinds[s]] = std::move(row);
    }
    j["router"]["messagesIn"] = std::move(in);
    j["router"]["messagesOut"] = std::move(out);
  }
  json connectors = json::array();
  for (const auto& c : policy_->group().connectors) {
    auto it = connector_drops_.find(c.arn);
    connectors.push_back({{"id", c.id},
                          {"arn", c.arn},
                          {"status", "not supported"},
                          {"dropped", it == connector_drops_.end() ? 0 : it->second}});
  }
  j["connectors"] = std::move(connectors);
  if (cloud_) {
    const auto& c = cloud_->stats();
    const auto& d = cloud_->drainStats();
    const auto& sp = cloud_->spoolStats();
    const auto& o = cloud_->options();
    j["cloud"] = {{"enabled", true},
                  {"state", c.state},
                  {"host", o.host},
                  {"port", o.port},
                  {"tls", !o.plaintext},
                  {"clientId", o.client_id},
                  {"connects", c.connects},
                  {"connectFailures", c.connect_failures},
                  {"disconnects", c.disconnects},
                  {"lastError", c.last_error},
                  {"subscriptions", c.subscriptions},
                  {"subscribeFailures", c.subscribe_failures},
                  {"received", c.received},
                  {"sent", d.sent},
                  {"resent", d.resent},
                  {"acked", d.acked},
                  {"inflight", d.inflight},
                  {"maxInflight", o.max_inflight},
                  {"spool",
                   {{"storage", std::string(spool::storageTypeName(o.spool.storage))},
                    {"path", o.spool.storage == spool::StorageType::kFileSystem ? o.spool.path
                                                                                : std::string()},
                    {"maxSizeBytes", cloud_->spoolMaxBytes()},
                    {"queued", sp.queued},
                    {"oldestAgeSeconds", cloud_->spoolOldestAgeSeconds()},
                    {"bytes", sp.bytes},
                    {"appended", sp.appended},
                    {"acked", sp.acked},
                    {"droppedOldest", sp.dropped_oldest},
                    {"droppedTooLarge", sp.dropped_too_large},
                    {"loaded", sp.loaded},
                    {"commits", sp.commits},
                    {"storeErrors", sp.store_errors},
                    {"lastSeq", sp.last_seq},
                    {"persistedSeq", sp.persisted_seq},
                    {"movedAside", sp.moved_aside}}}};
  } else {
    j["cloud"] = {{"enabled", false}, {"state", "disabled"}};
  }
  if (shadows_) {
    auto s = shadows_->stats();
    j["shadows"] = {{"accepted", s.accepted},
                    {"rejected", s.rejected},
                    {"storeErrors", s.store_errors},
                    {"things", s.things}};
    if (shadow_sync_) {
      auto y = shadow_sync_->stats();
      j["shadows"]["sync"] = {{"things", shadow_sync_->syncedThings()},
                              {"pushed", y.pushed},
                              {"pulled", y.pulled},
                              {"fullSyncs", y.full_syncs},
                              {"pushErrors", y.push_errors},
                              {"ignoredStale", y.ignored_stale},
                              {"filters", shadow_link_->shadowFilters().size()}};
      json versions = json::object();
      for (const auto& t : shadow_sync_->syncedThings())
        versions[t] = shadow_sync_->cloudVersion(t);
      j["shadows"]["sync"]["cloudVersions"] = std::move(versions);
    }
  }
  if (secrets_) {
    auto s = secrets_->stats();
    j["secrets"] = {{"served", s.served},
                    {"refused", s.refused},
                    {"notFound", s.not_found},
                    {"badRequests", s.bad_requests}};
  }
  j["tes"] = tesStatus();
  if (host_) {
    json fns = json::array();
    for (const auto& f : host_->functionStatus()) {
      fns.push_back({{"arn", f.arn},
                     {"pinned", f.pinned},
                     {"queued", f.queue.queued},
                     {"workers", f.queue.workers},
                     {"accepted", f.queue.accepted},
                     {"dropped", f.queue.dropped},
                     {"droppedBytes", f.queue.dropped_bytes},
                     {"queuedBytes", f.queue.queued_bytes},
                     {"succeeded", f.queue.succeeded},
                     {"handledErrors", f.queue.handled_errors},
                     {"unhandledErrors", f.queue.unhandled_errors},
                     {"timeouts", f.queue.timeouts},
                     {"restarts", f.restarts},
                     {"crashLoop", f.crash_loop},
                     {"standbyPid", f.standby_pid}});
    }
    j["functions"] = fns;
    j["ipcPort"] = host_->port();
    auto is = host_->ipcStats();
    j["ipc"] = {{"connections", host_->ipcConnections()},
                {"accepted", is.accepted},
                {"refused", is.refused},
                {"evicted", is.evicted},
                {"headerTimeouts", is.header_timeouts},
                {"idleTimeouts", is.idle_timeouts},
                {"bodyTimeouts", is.body_timeouts},
                {"badRequests", is.bad_requests}};
  }
  return j;
}

}  // namespace evg::daemon
