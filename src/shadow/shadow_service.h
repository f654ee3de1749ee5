#pragma once
// ShadowService: the one local shadow service behind both entry points.
//
//   SDK   : IPC GGShadowService invoke (subject $aws/things/T/shadow/<op>) -> handle(..., kSdk)
//           -> the reply payload is the E2 body (function error always "").
//   MQTT  : a message routed to GGShadowService on $aws/things/T/shadow/<op> -> handleMqtt()
//           -> the reply is published on .../<op>/accepted or .../<op>/rejected.
//   Cloud : ShadowSync applies cloud changes with handle(..., kUpdate, patch, kCloud).
//
// Every accepted update also publishes .../update/delta (when desired changed and differs from
// reported) and .../update/documents; an accepted delete publishes .../delete/accepted. All
// publishes go through the PublishFn given at construction; the daemon routes them with source
// GGShadowService through the group's subscription table. SDK gets and every rejection of an SDK
// call are answered only to the caller (as AWS IoT's HTTP API does).
//
// Durability: a change is saved to the ShadowStore (one synchronous transaction) before it is
// acknowledged or published; a failed save answers 500 and leaves the shadow unchanged.
//
// Threading: not thread-safe; the event loop calls everything.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/log.h"
#include "base/status.h"
#include "shadow/shadow_document.h"
#include "shadow/shadow_store.h"

namespace evg::shadow {

enum class Origin { kMqtt, kSdk, kCloud };

struct ShadowServiceOptions {
  ShadowLimits limits;
  size_t max_things = 10000;          // distinct things with a shadow row kept by the service
  size_t max_thing_name_bytes = 128;  // AWS IoT thing name limit
  std::function<int64_t()> now_s;     // wall clock, seconds since epoch; default: system clock
};

struct ShadowReply {
  bool accepted = false;
  int code = 200;       // 200, or the error code of a rejection
  std::string payload;  // accepted document or {"code","message","timestamp"}
};

struct ShadowStats {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t store_errors = 0;
  size_t things = 0;  // rows cached
};

// Told about every accepted change (after it is durable).
class ShadowObserver {
 public:
  virtual ~ShadowObserver() = default;
  virtual void onShadowChanged(const std::string& thing, ShadowOp op, Origin origin) = 0;
};

class ShadowService {
 public:
  using PublishFn = std::function<void(const std::string& topic, const std::string& payload)>;

  ShadowService(ShadowServiceOptions opts, ShadowStore& store, PublishFn publish, Log log);

  // One request. Never fails: errors are rejections with the AWS IoT error body.
  ShadowReply handle(const std::string& thing, ShadowOp op, std::string_view payload,
                     Origin origin);
  // A message on `topic` routed to GGShadowService. Returns false (and does nothing) when the
  // topic is not $aws/things/<thing>/shadow/{get,update,delete}.
  bool handleMqtt(std::string_view topic, std::string_view payload);

  // The stored document of `thing` (nullopt: no shadow).
  std::optional<json> document(const std::string& thing);
  // Cloud-sync state of a thing (opaque JSON text, "" when none) and its durable update.
  std::string syncState(const std::string& thing);
  Status setSyncState(const std::string& thing, std::string state);

  void setObserver(ShadowObserver* o) { observer_ = o; }
  // `evergreen reset`: every shadow (documents, versions, sync state) removed from the store and
  // the cache; no delete notifications are published.
  Status clearAll();
  ShadowStats stats() const;
  const ShadowLimits& limits() const { return opts_.limits; }

 private:
  struct Entry {
    int64_t version = 0;
    std::optional<json> doc;
    std::string sync;
  };
  Result<Entry*> entry(const std::string& thing, bool create);
  Status persist(const std::string& thing, const Entry& e);
  ShadowReply reject(const ShadowError& e);

  ShadowServiceOptions opts_;
  ShadowStore& store_;
  PublishFn publish_;
  Log log_;
  ShadowObserver* observer_ = nullptr;
  std::map<std::string, Entry, std::less<>> cache_;
  ShadowStats stats_;
};

}  // namespace evg::shadow
