#pragma once
// ShadowSync: keeps the local shadows of things with `SyncShadow: true` in step with their AWS IoT
// (cloud) shadows over the cloud MQTT connection, using the AWS IoT shadow topics.
//
// Rule (AWS, GGv2 shadow manager): for `desired` the cloud wins, for `reported` the local copy
// wins. Implemented as a three-way merge per key against `base`, the last state both sides agreed
// on (kept durably in the thing's sync state with the last cloud version seen):
//   key changed on one side only  -> that side's value;
//   changed on both sides         -> objects merge key by key, otherwise desired takes the
//                                    cloud's value, reported the local one.
// The merged state N is applied locally (ShadowService::handle(..., kCloud): local delta and
// documents are published as for any update) and the difference cloud -> N is published on the
// cloud's $aws/things/T/shadow/update. `base` moves to N only when the cloud's state is known
// (get/accepted, update/documents), so an update pushed just before an outage is re-sent by the
// full sync that follows every (re)connect — nothing acknowledged locally is lost.
//
// Flows:
//   onCloudConnected  -> subscribe get/+, update/documents, update/rejected, delete/accepted of
//                        each synced thing; publish .../get (full sync) for each.
//   local change      -> (if connected) publish the local difference base -> local immediately.
//   cloud documents   -> versions at or below the last seen are ignored; otherwise merge.
//   deletes           -> a local delete publishes .../delete; a cloud delete/accepted deletes
//                        locally.
// Threading: not thread-safe; the event loop calls everything (link callbacks included).

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "base/log.h"
#include "base/status.h"
#include "shadow/shadow_service.h"

namespace evg::shadow {

// The narrow view of the cloud MQTT connection that sync needs. The daemon adapts the cloud
// client (src/cloud) to it and feeds incoming messages to ShadowSync::onCloudMessage.
class ShadowCloudLink {
 public:
  virtual ~ShadowCloudLink() = default;
  virtual bool connected() const = 0;
  // QoS 1 publish to the cloud; an error means "not sent" (sync retries on the next connect).
  virtual Status publish(const std::string& topic, const std::string& payload) = 0;
  virtual Status subscribe(const std::string& filter) = 0;
};

struct ShadowSyncStats {
  uint64_t pushed = 0;         // updates published to the cloud
  uint64_t pulled = 0;         // merges that changed the local shadow
  uint64_t full_syncs = 0;     // get requests sent
  uint64_t push_errors = 0;    // publish refused by the link
  uint64_t ignored_stale = 0;  // cloud documents at or below the known version
};

class ShadowSync final : public ShadowObserver {
 public:
  // Registers itself as the service's observer.
  ShadowSync(ShadowService& service, ShadowCloudLink& link, Log log);
  ~ShadowSync() override;

  // The things to sync (deploy time). New things are subscribed and fully synced when connected.
  void setSyncedThings(std::set<std::string> things);
  const std::set<std::string>& syncedThings() const { return things_; }

  void onCloudConnected();
  void onCloudDisconnected() {}
  // A message from the cloud connection. Returns true when it was a shadow topic of a synced
  // thing (consumed).
  bool onCloudMessage(const std::string& topic, const std::string& payload);

  // ShadowObserver
  void onShadowChanged(const std::string& thing, ShadowOp op, Origin origin) override;

  ShadowSyncStats stats() const { return stats_; }
  // The last cloud version this core agreed on for `thing` (0: none yet); for status and tests.
  int64_t cloudVersion(const std::string& thing) { return load(thing).cloud_version; }

  // The three-way merge (exposed for tests). Absent values are nullopt.
  static std::optional<json> merge3(const std::optional<json>& base,
                                    const std::optional<json>& local,
                                    const std::optional<json>& cloud, bool prefer_cloud);
  // Patch turning `from` into `to` (nulls for removed keys).
  static json diffPatch(const json& from, const json& to);

 private:
  struct State {
    json base = json::object();  // {"desired":{},"reported":{}}
    int64_t cloud_version = 0;
  };
  State load(const std::string& thing);
  void save(const std::string& thing, const State& s);
  void subscribeThing(const std::string& thing);
  void fullSync(const std::string& thing);
  void reconcile(const std::string& thing, const json& cloud_state, int64_t cloud_version);
  void pushLocal(const std::string& thing);
  std::string token();

  ShadowService& service_;
  ShadowCloudLink& link_;
  Log log_;
  std::set<std::string> things_;
  ShadowSyncStats stats_;
  uint64_t next_token_ = 1;
};

}  // namespace evg::shadow
