// Core's HTTP observability endpoint (evergreen.metrics.port, loopback only; src/metrics):
//   GET /metrics            Prometheus text: the counters and gauges of `evergreen status`
//   GET /health/live        200 while the event loop answers (it serves this very request)
//   GET /health/ready       200 once started and not stopping, else 503; JSON details
//   GET /health/functions   v1's worker health listing ({FuncArn, WorkerId, ProcessId,
//                           WorkerState}, as GET /2016-11-01/health/workers on the IPC port)
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>

#include "daemon/core.h"
#include "metrics/prometheus.h"

namespace evg::daemon {

using metrics::Exposition;
using metrics::HttpRequest;
using metrics::HttpResponse;
using metrics::Labels;
using nlohmann::json;

namespace {

constexpr std::array<const char*, 5> kKindNames = {"device", "function", "cloud", "shadow",
                                                   "connector"};

// Resident set size of a process in bytes (0 when it is gone).
uint64_t rssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

double d(uint64_t v) { return static_cast<double>(v); }

}  // namespace

Status Core::startMetrics() {
  const auto& m = cfg_.evergreen.metrics;
  if (m.port == 0) return Status::ok();
  metrics::HttpServerOptions o;
  o.address = m.bind_address;
  o.port = static_cast<uint16_t>(m.port);
  o.max_connections = static_cast<size_t>(m.max_connections);
  metrics_ = std::make_unique<metrics::HttpServer>(
      io_, o, [this](const HttpRequest& r) { return serveHttp(r); }, Log(&logger_, "Metrics"));
  EVG_RETURN_IF_ERROR(metrics_->start().withContext("metrics endpoint (evergreen.metrics): "));
  log_.info("metrics and health on http://" + m.bind_address + ":" +
            std::to_string(metrics_->port()) + "/metrics, /health/{live,ready,functions}");
  return Status::ok();
}

HttpResponse Core::serveHttp(const HttpRequest& req) const {
  std::string path = req.target.substr(0, req.target.find('?'));
  if (path == "/metrics") {
    return {200, std::string(metrics::kContentType), prometheusText()};
  }
  if (path == "/health/live" || path == "/health") {
    return {200, "application/json", json{{"status", "live"}}.dump() + "\n"};
  }
  if (path == "/health/ready") {
    json j = {{"status", ready() ? "ready" : (stopping_ ? "stopping" : "starting")}};
    if (broker_)
      j["mqtt"] = {{"tlsPort", broker_->tlsPort()}, {"plaintextPort", broker_->tcpPort()}};
    if (host_) j["ipcPort"] = host_->port();
    j["cloud"] = cloud_ ? cloud_->stats().state : std::string("disabled");
    json crash = json::array();
    if (host_) {
      for (const auto& f : host_->functionStatus())
        if (f.crash_loop) crash.push_back(f.arn);
    }
    j["functionsInCrashLoop"] = crash;
    return {ready() ? 200 : 503, "application/json", j.dump() + "\n"};
  }
  if (path == "/health/functions") {
    json arr = json::array();
    if (host_) {
      for (const auto& w : host_->workerStatus()) {
        arr.push_back({{"FuncArn", w.arn},
                       {"WorkerId", std::to_string(w.id)},
                       {"ProcessId", std::to_string(w.pid)},
                       {"WorkerState", w.state}});
      }
    }
    return {200, "application/json", arr.dump() + "\n"};
  }
  return {
      404, "text/plain; charset=utf-8",
      "not found: " + path + " (try /metrics, /health/live, /health/ready, /health/functions)\n"};
}

std::string Core::prometheusText() const {
  Exposition e;
  e.gauge("evergreen_build_info", "Evergreen version (value is always 1).",
          {{"version", EVG_VERSION}}, 1);
  e.gauge("evergreen_up", "1 while the core is started and not stopping.", {}, ready() ? 1 : 0);

  // --- embedded MQTT broker
  if (broker_) {
    auto s = broker_->stats();
    e.gauge("evergreen_mqtt_connections", "Open client sockets.", {}, d(s.connections));
    e.gauge("evergreen_mqtt_connected_clients", "Clients past CONNECT.", {},
            d(s.connected_clients));
    e.counter("evergreen_mqtt_connections_accepted_total", "Client sockets accepted.", {},
              d(s.connections_total));
    e.counter("evergreen_mqtt_connections_refused_total",
              "Connections refused (limits, CONNACK != 0).", {}, d(s.connections_refused));
    e.counter("evergreen_mqtt_messages_received_total", "PUBLISH packets accepted from clients.",
              {}, d(s.messages_in));
    e.counter("evergreen_mqtt_messages_sent_total", "PUBLISH packets sent to clients.", {},
              d(s.messages_out));
    const char* drop_help = "Messages the broker dropped, by reason.";
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "queue_full"}},
              d(s.dropped_queue_full));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "oversize"}},
              d(s.dropped_oversize));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "slow_consumer"}},
              d(s.dropped_slow_consumer));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "offline_qos0"}},
              d(s.dropped_offline_qos0));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "retained_full"}},
              d(s.dropped_retained_full));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "retained_bytes"}},
              d(s.dropped_retained_bytes));
    e.counter("evergreen_mqtt_dropped_messages_total", drop_help, {{"reason", "queue_bytes"}},
              d(s.dropped_queue_bytes));
    e.gauge("evergreen_mqtt_retained_bytes", "Topic + payload bytes of retained messages.", {},
            d(s.retained_bytes));
    e.gauge("evergreen_mqtt_queued_bytes", "Topic + payload bytes held by sessions.", {},
            d(s.queued_bytes));
    e.counter("evergreen_mqtt_protocol_errors_total", "Malformed input (connection closed).", {},
              d(s.protocol_errors));
    e.counter("evergreen_mqtt_keepalive_timeouts_total", "Clients closed for keep-alive.", {},
              d(s.keepalive_timeouts));
    e.counter("evergreen_mqtt_coalesced_batches_total",
              "Batches of client input that waited for more under load (coalesceInputMicros).", {},
              d(s.coalesced_batches));
    e.gauge("evergreen_mqtt_retained_messages", "Retained messages held.", {}, d(s.retained));
    e.gauge("evergreen_mqtt_sessions", "Sessions (online and persistent offline).", {},
            d(s.sessions));
  }

  // --- router: in by source kind, out by source x target kind, drops by reason
  const auto& c = counters_;
  e.gauge("evergreen_router_subscriptions", "Subscriptions in the active group.", {},
          d(policy_->group().subscriptions.size()));
  for (size_t s = 0; s < kKindNames.size(); ++s) {
    e.counter("evergreen_router_messages_in_total", "Messages entering the router, by source kind.",
              {{"source", kKindNames[s]}}, d(c.in_by_source[s]));
  }
  for (size_t s = 0; s < kKindNames.size(); ++s) {
    for (size_t t = 0; t < kKindNames.size(); ++t) {
      e.counter("evergreen_router_messages_out_total",
                "Deliveries the subscription table made, by source and target kind.",
                {{"source", kKindNames[s]}, {"target", kKindNames[t]}},
                d(c.out_by_source_target[s][t]));
    }
  }
  const char* rdrop = "Messages the router dropped, by reason.";
  e.counter("evergreen_router_dropped_messages_total", rdrop, {{"reason", "no_subscription"}},
            d(c.unrouted));
  e.counter("evergreen_router_dropped_messages_total", rdrop, {{"reason", "function_refused"}},
            d(c.function_invoke_refused));
  e.counter("evergreen_router_dropped_messages_total", rdrop, {{"reason", "cloud_disabled"}},
            d(c.pending_cloud));
  e.counter("evergreen_router_dropped_messages_total", rdrop,
            {{"reason", "shadow_topic_unsupported"}}, d(c.pending_shadow));
  e.counter("evergreen_router_dropped_messages_total", rdrop, {{"reason", "connector_unsupported"}},
            d(c.pending_connector));
  e.counter("evergreen_router_dropped_messages_total", rdrop, {{"reason", "all_or_error_refused"}},
            d(c.publish_refused_all_or_error));
  e.counter("evergreen_deployments_total", "Group deployments, by result.", {{"result", "success"}},
            d(c.deployments));
  e.counter("evergreen_deployments_total", "Group deployments, by result.",
            {{"result", "rejected"}}, d(c.deployments_rejected));

  // --- cloud connection and spool
  static constexpr std::array<const char*, 5> kStates = {"disabled", "disconnected", "connecting",
                                                         "connected", "stopped"};
  std::string state = cloud_ ? cloud_->stats().state : "disabled";
  for (const char* st : kStates) {
    e.gauge("evergreen_cloud_state", "Upstream connection state (1 for the current one).",
            {{"state", st}}, state == st ? 1 : 0);
  }
  e.declare("evergreen_cloud_spool_messages", "gauge", "Messages queued for the cloud.");
  if (cloud_) {
    const auto& cs = cloud_->stats();
    const auto& dr = cloud_->drainStats();
    const auto& sp = cloud_->spoolStats();
    e.counter("evergreen_cloud_connects_total", "Upstream CONNACKs accepted.", {}, d(cs.connects));
    e.counter("evergreen_cloud_connect_failures_total", "Upstream connection attempts that failed.",
              {}, d(cs.connect_failures));
    e.counter("evergreen_cloud_disconnects_total", "Upstream connections lost.", {},
              d(cs.disconnects));
    e.counter("evergreen_cloud_messages_received_total", "PUBLISHes received from the cloud.", {},
              d(cs.received));
    e.counter("evergreen_cloud_messages_sent_total", "PUBLISHes written upstream (incl. resends).",
              {}, d(dr.sent));
    e.counter("evergreen_cloud_messages_acked_total", "Upstream PUBACKs (messages delivered).", {},
              d(dr.acked));
    e.gauge("evergreen_cloud_inflight_messages", "QoS 1 publishes awaiting PUBACK.", {},
            d(dr.inflight));
    e.gauge("evergreen_cloud_spool_messages", "Messages queued for the cloud.", {}, d(sp.queued));
    e.gauge("evergreen_cloud_spool_bytes", "Bytes (topic + payload) queued for the cloud.", {},
            d(sp.bytes));
    e.gauge("evergreen_cloud_spool_max_bytes", "Spool size bound.", {}, d(cloud_->spoolMaxBytes()));
    e.gauge("evergreen_cloud_spool_oldest_age_seconds", "Age of the oldest queued message.", {},
            cloud_->spoolOldestAgeSeconds());
    e.counter("evergreen_cloud_spool_dropped_messages_total", "Spool drops, by reason.",
              {{"reason", "spool_full"}}, d(sp.dropped_oldest));
    e.counter("evergreen_cloud_spool_dropped_messages_total", "Spool drops, by reason.",
              {{"reason", "too_large"}}, d(sp.dropped_too_large));
    e.counter("evergreen_cloud_spool_store_errors_total", "Spool storage errors.", {},
              d(sp.store_errors));
  }

  // --- shadows and secrets
  if (shadows_) {
    auto s = shadows_->stats();
    e.gauge("evergreen_shadows", "Local shadow documents.", {}, d(s.things));
    e.counter("evergreen_shadow_requests_total", "Shadow requests, by result.",
              {{"result", "accepted"}}, d(s.accepted));
    e.counter("evergreen_shadow_requests_total", "Shadow requests, by result.",
              {{"result", "rejected"}}, d(s.rejected));
    e.counter("evergreen_shadow_store_errors_total", "Shadow storage errors.", {},
              d(s.store_errors));
    if (shadow_sync_) {
      auto y = shadow_sync_->stats();
      e.counter("evergreen_shadow_sync_pushed_total", "Local shadow changes pushed to the cloud.",
                {}, d(y.pushed));
      e.counter("evergreen_shadow_sync_pulled_total", "Cloud shadow changes applied locally.", {},
                d(y.pulled));
      e.counter("evergreen_shadow_sync_push_errors_total", "Shadow pushes that failed.", {},
                d(y.push_errors));
    }
  }
  if (secrets_) {
    auto s = secrets_->stats();
    const char* h = "get_secret_value requests, by result.";
    e.counter("evergreen_secret_requests_total", h, {{"result", "served"}}, d(s.served));
    e.counter("evergreen_secret_requests_total", h, {{"result", "refused"}}, d(s.refused));
    e.counter("evergreen_secret_requests_total", h, {{"result", "not_found"}}, d(s.not_found));
    e.counter("evergreen_secret_requests_total", h, {{"result", "bad_request"}}, d(s.bad_requests));
  }

  // --- IPC server (the v1 SDK endpoint on ggDaemonPort)
  if (host_) {
    auto is = host_->ipcStats();
    e.gauge("evergreen_ipc_connections", "Open IPC (SDK) connections.", {},
            d(host_->ipcConnections()));
    e.counter("evergreen_ipc_connections_accepted_total", "IPC connections accepted.", {},
              d(is.accepted));
    const char* h = "IPC connections closed by the server, by reason.";
    e.counter("evergreen_ipc_connections_closed_total", h, {{"reason", "refused"}}, d(is.refused));
    e.counter("evergreen_ipc_connections_closed_total", h, {{"reason", "evicted"}}, d(is.evicted));
    e.counter("evergreen_ipc_connections_closed_total", h, {{"reason", "header_timeout"}},
              d(is.header_timeouts));
    e.counter("evergreen_ipc_connections_closed_total", h, {{"reason", "idle_timeout"}},
              d(is.idle_timeouts));
    e.counter("evergreen_ipc_connections_closed_total", h, {{"reason", "body_timeout"}},
              d(is.body_timeouts));
    e.counter("evergreen_ipc_bad_requests_total",
              "Malformed or oversized IPC requests answered 400/413/431.", {}, d(is.bad_requests));
  }

  // --- functions
  e.declare("evergreen_function_invocations_total", "counter",
            "Work items accepted into a function's queue.");
  if (host_) {
    std::map<std::string, uint64_t> memory;
    std::map<std::string, uint64_t> workers;
    for (const auto& w : host_->workerStatus()) {
      memory[w.arn] += w.pid > 0 ? rssBytes(w.pid) : 0;
      ++workers[w.arn];
    }
    for (const auto& f : host_->functionStatus()) {
      Labels l{{"function", f.arn}};
      const auto& q = f.queue;
      e.counter("evergreen_function_invocations_total",
                "Work items accepted into a function's queue.", l, d(q.accepted));
      e.counter("evergreen_function_succeeded_total", "Invocations that returned a result.", l,
                d(q.succeeded));
      const char* eh =
          "Invocations that failed, by kind (handled: the handler raised; "
          "unhandled: crash, timeout or removal).";
      Labels lh = l, lu = l;
      lh.emplace_back("kind", "handled");
      lu.emplace_back("kind", "unhandled");
      e.counter("evergreen_function_errors_total", eh, lh, d(q.handled_errors));
      e.counter("evergreen_function_errors_total", eh, lu, d(q.unhandled_errors));
      e.counter("evergreen_function_timeouts_total", "Invocations over the function's timeout.", l,
                d(q.timeouts));
      e.counter("evergreen_function_dropped_total", "Work refused because the queue was full.", l,
                d(q.dropped));
      e.gauge("evergreen_function_queue_depth", "Work items waiting for a worker.", l, d(q.queued));
      e.gauge("evergreen_function_workers", "Worker processes of the function.", l,
              d(workers[f.arn]));
      e.counter("evergreen_function_restarts_total", "Worker restarts after a crash.", l,
                d(f.restarts));
      e.gauge("evergreen_function_crash_loop", "1 while the function is in a crash loop.", l,
              f.crash_loop ? 1 : 0);
      e.gauge("evergreen_function_memory_bytes", "Resident memory of the function's workers.", l,
              d(memory[f.arn]));
      e.histogram("evergreen_function_duration_seconds",
                  "Invocation duration (work handed to a worker until its result).", l,
                  lambda::DurationHistogram::kBoundsSeconds, f.durations.counts,
                  f.durations.sum_seconds);
    }
  }
  return e.text();
}

}  // namespace evg::daemon
