// Core's cloud side: options from config.json + the group's GGCloudSpooler entry, starting the
// upstream client, and re-applying the group's cloud subscriptions and synced shadows on deploy.
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

Result<cloud::CloudOptions> Core::cloudOptions(const group::Group& g) const {
  const auto& cc = cfg_.evergreen.cloud;
  cloud::CloudOptions o;
  o.host = cc.host.empty() ? cfg_.core_thing.iot_host : cc.host;
  o.port = static_cast<uint16_t>(cc.port != 0 ? cc.port : cfg_.core_thing.iot_mqtt_port);
  o.plaintext = cc.plaintext;
  o.client_id = cfg_.core_thing.thing_name;
  o.ca_path = cfg_.crypto.ca_path;
  o.cert_path = cfg_.crypto.core_cert_path;
  o.key_path = cfg_.crypto.core_key_path;
  o.keep_alive_s = static_cast<uint16_t>(cfg_.core_thing.keep_alive_s);
  o.max_retry_interval_s = cfg_.mqtt_max_connection_retry_interval_s;
  o.operation_timeout_s = cfg_.core_thing.mqtt_operation_timeout_s;
  o.max_inflight = static_cast<size_t>(cc.max_inflight);
  o.max_packet_size = static_cast<size_t>(cfg_.evergreen.mqtt.max_payload_bytes) + 65536 + 8;
  o.persistent_subscriptions = cc.persistent_subscriptions;
  o.spool.storage =
      cc.storage_type == "Memory" ? spool::StorageType::kMemory : spool::StorageType::kFileSystem;
  o.spool.max_size_bytes = static_cast<size_t>(cc.max_size_bytes);
  o.spool.path =
      cc.spool_path.empty() ? cfg_.write_directory + "/var/spool/cloud.db" : cc.spool_path;
  o.spool.flush_interval_ms = cc.flush_interval_ms;
  o.spool.sync = cc.sync_full ? spool::SyncMode::kFull : spool::SyncMode::kNormal;
  // v1: the spooler is configured by env vars on the function entry
  // arn:aws:lambda:::function:GGCloudSpooler:1; they override config.json.
  for (const auto& f : g.functions) {
    if (f.arn.rfind("arn:aws:lambda:::function:GGCloudSpooler", 0) != 0) continue;
    if (!f.configuration || !f.configuration->environment ||
        !f.configuration->environment->variables) {
      continue;
    }
    std::string where = "Functions[Id=" + f.id + "].Configuration.Environment.Variables.";
    for (const auto& [k, v] : *f.configuration->environment->variables) {
      if (k == "GG_CONFIG_STORAGE_TYPE") {
        auto t = spool::parseStorageType(v);
        if (!t) return Status::invalid(where + k + ": " + t.status().message());
        o.spool.storage = *t;
      } else if (k == "GG_CONFIG_MAX_SIZE_BYTES") {
        char* end = nullptr;
        unsigned long long n = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || end == nullptr || *end != '\0' || n < spool::kMinMaxSizeBytes) {
          return Status::invalid(where + k + ": expected an integer >= " +
                                 std::to_string(spool::kMinMaxSizeBytes) + ", got \"" + v + "\"");
        }
        o.spool.max_size_bytes = static_cast<size_t>(n);
      } else if (k == "GG_CONFIG_SUBSCRIPTION_QUALITY") {
        if (v != "AtMostOnce" && v != "AtLeastOncePersistent") {
          return Status::invalid(where + k +
                                 ": expected \"AtMostOnce\" or \"AtLeastOncePersistent\", got \"" +
                                 v + "\"");
        }
        o.persistent_subscriptions = v == "AtLeastOncePersistent";
      }
    }
  }
  return o;
}

namespace {
std::vector<std::string> cloudSubjects(const group::Group& g) {
  std::vector<std::string> out;
  for (const auto& s : g.subscriptions) {
    if (s.source_endpoint.kind != group::Endpoint::Kind::kCloud) continue;
    if (std::find(out.begin(), out.end(), s.subject) == out.end()) out.push_back(s.subject);
  }
  return out;
}

// Thing names of the Cores and Devices with SyncShadow: true.
std::set<std::string> syncedThings(const group::Group& g) {
  std::set<std::string> out;
  for (const auto* list : {&g.cores, &g.devices}) {
    for (const auto& t : *list) {
      if (t.sync_shadow.value_or(false) && !t.thing_name.empty()) out.insert(t.thing_name);
    }
  }
  return out;
}
}  // namespace

Status Core::startCloud() {
  if (!cfg_.evergreen.cloud.enabled) {
    log_.info(
        "cloud connection disabled (evergreen.cloud.enabled): Target=cloud messages are "
        "counted and dropped");
    return Status::ok();
  }
  auto o = cloudOptions(policy_->group());
  if (!o) {
    // The stored group carries a bad GGCloudSpooler setting: run on config.json's settings.
    log_.error("cloud: " + o.status().message() + "; using config.json's evergreen.cloud");
    o = cloudOptions(group::Group{});
  }
  if (!o) return o.status();
  std::string spool_kind = std::string(spool::storageTypeName(o->spool.storage));
  cloud_ = std::make_unique<cloud::CloudClient>(io_, std::move(o).value(), *this,
                                                Log(&logger_, "GGCloudSpooler"));
  if (shadows_) {
    shadow_link_ = std::make_unique<CloudShadowLink>(CloudPort::forClient(*cloud_));
    shadow_sync_ = std::make_unique<shadow::ShadowSync>(*shadows_, *shadow_link_,
                                                        Log(&logger_, "GGShadowSyncManager"));
  }
  if (cfg_.evergreen.jobs.enabled) {
    jobs_ = std::make_unique<JobAgent>(*this, Log(&logger_, "IoTJobs"));
    EVG_RETURN_IF_ERROR(jobs_->start().withContext("IoT Jobs: "));
  }
  applyCloudGroup(policy_->group());
  EVG_RETURN_IF_ERROR(cloud_->start().withContext("cloud: "));
  log_.info("cloud: connecting to " + cloud_->options().host + ":" +
            std::to_string(cloud_->options().port) + " as '" + cloud_->options().client_id +
            "' (spool " + spool_kind + ")");
  return Status::ok();
}

void Core::applyCloudGroup(const group::Group& g) {
  if (!cloud_) return;
  auto o = cloudOptions(g);
  if (!o) return;  // refused by prepare() on deploy; startCloud() reported it at start
  if (o->spool.storage != cloud_->options().spool.storage) {
    log_.warn("cloud spool storage type changes to " +
              std::string(spool::storageTypeName(o->spool.storage)) +
              " after a restart of the core");
  }
  cloud_->setSpoolMaxBytes(o->spool.max_size_bytes);
  std::vector<std::string> subjects = cloudSubjects(g);
  if (jobs_) {
    for (auto& f : jobs_->filters()) {
      if (std::find(subjects.begin(), subjects.end(), f) == subjects.end()) subjects.push_back(f);
    }
  }
  if (!shadow_link_) {
    cloud_->setSubscriptions(std::move(subjects), o->persistent_subscriptions);
    return;
  }
  // One upstream filter set: Source=cloud subjects plus the synced things' shadow topics.
  std::set<std::string> synced = syncedThings(g);
  shadow_link_->retainThings(synced);
  shadow_link_->setCloudFilters(std::move(subjects), o->persistent_subscriptions);
  shadow_sync_->setSyncedThings(std::move(synced));
}

}  // namespace evg::daemon
