#pragma once
// Sans-I/O classic (unnamed) thing shadow engine with AWS IoT semantics
// (reference: ggv1-protocol.md §3.3; AWS IoT "Device Shadow service documents").
//
// A stored shadow is a JSON object
//   {"state":{"desired":{...},"reported":{...}},
//    "metadata":{"desired":{...},"reported":{...}},   // same shape, leaves {"timestamp":<s>}
//    "version":N, "timestamp":<s>}
// where an absent section means "empty". All functions here are pure: they take the current
// document (or nullopt when the thing has no shadow), the request payload and the clock, and
// return the next document plus the wire payloads; nothing is stored or published here.
//
// Semantics implemented:
// * update: state.desired / state.reported are merged recursively; a JSON null removes a key (or
//   the whole section when the section itself is null); arrays and scalars replace. Metadata
//   timestamps are set for every leaf written. `version` in the request is an optimistic lock
//   (must equal the current version, else 409 "Version conflict"); every accepted update
//   increments the version. `clientToken` (string, <= 64 bytes) is echoed in every answer.
// * delta: keys of desired whose value differs from reported (recursively for objects).
// * delete: removes the document; the version counter survives (AWS IoT: deleting a shadow does
//   not reset its version), the next update continues from it.
// * limits: the request payload and the resulting state document must each fit in
//   ShadowLimits::max_document_bytes (8 KB default) -> 413; nesting deeper than max_depth -> 400.
// * errors: {"code":<int>,"message":"...","timestamp":<s>[,"clientToken":"..."]} with codes 400,
//   404, 409, 413, 500 as used by GGv2's shadow manager.
//
// Thread-compatible value code.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/status.h"

namespace evg::shadow {

using nlohmann::json;

struct ShadowLimits {
  size_t max_document_bytes = 8 * 1024;  // request payload and stored state (AWS IoT: 8 KB)
  int max_depth = 6;                     // levels inside desired/reported (AWS IoT: 6)
  size_t max_client_token_bytes = 64;
};

enum class ShadowOp { kGet, kUpdate, kDelete };
std::string_view shadowOpName(ShadowOp op);  // "get", "update", "delete"

// A request topic $aws/things/<thing>/shadow/<get|update|delete>.
struct ShadowTopic {
  std::string thing;
  ShadowOp op = ShadowOp::kGet;
};
// nullopt when `topic` is not a classic shadow request topic (responses such as
// .../update/accepted and named shadows are not requests).
std::optional<ShadowTopic> parseShadowRequestTopic(std::string_view topic);
// "$aws/things/<thing>/shadow/<op>" (+ "/" + suffix when suffix is not empty).
std::string shadowTopic(std::string_view thing, ShadowOp op, std::string_view suffix = {});

// A rejected request: the AWS IoT error code and message.
struct ShadowError {
  int code = 500;
  std::string message;
  std::string client_token;  // echoed when the request carried a valid one
};
// {"code","message","timestamp"[,"clientToken"]}.
std::string errorPayload(const ShadowError& e, int64_t now_s);

// Outcome of an accepted update.
struct UpdateOutcome {
  json document;          // the new stored document
  std::string accepted;   // .../update/accepted payload (also the SDK answer)
  std::string delta;      // .../update/delta payload; empty when no delta is due
  std::string documents;  // .../update/documents payload
  bool desired_changed = false;
};

// Applies an update request to `current` (nullopt: no shadow). `current_version` is the stored
// version counter (it survives deletes; 0 for a thing never seen).
std::variant<UpdateOutcome, ShadowError> applyUpdate(const std::optional<json>& current,
                                                     int64_t current_version,
                                                     std::string_view payload, int64_t now_s,
                                                     const ShadowLimits& limits);

// .../get/accepted: state (desired, reported, delta), metadata, version, timestamp.
// 404 when there is no shadow. `payload` may carry {"clientToken":...} (MQTT path) or be empty.
std::variant<std::string, ShadowError> getResponse(const std::optional<json>& current,
                                                   std::string_view thing, std::string_view payload,
                                                   int64_t now_s, const ShadowLimits& limits);

// .../delete/accepted {"version","timestamp"[,"clientToken"]}; 404 when there is no shadow.
std::variant<std::string, ShadowError> deleteResponse(const std::optional<json>& current,
                                                      std::string_view thing,
                                                      std::string_view payload, int64_t now_s,
                                                      const ShadowLimits& limits);

// The delta of desired against reported (empty object when none).
json computeDelta(const json& desired, const json& reported);

// Cloud-sync helper: "state" of a stored document with empty sections removed.
json stateOf(const json& document);

}  // namespace evg::shadow
