#pragma once
// parseJson: the one entry point for JSON that comes from outside the process (config.json, group
// files, IPC bodies and client contexts, shadow documents, the control socket, stored documents).
// nlohmann's DOM parser is driven through a SAX handler that
//   - refuses nesting deeper than JsonLimits::max_depth (default kMaxJsonDepth) before building
//     it, so later recursive walks (copy, dump, ==, validation) cannot exhaust the stack;
//   - refuses a key repeated in one object, naming the key and the object's JSON path (the DOM
//     would silently keep the last value);
// and never throws. Errors are Status::invalid with a message such as
//   parse error at line 3, column 5: syntax error while parsing object key - ...
//   nesting deeper than 64 levels at a.b[0]
//   duplicate key "port" in object at coreThing
// Callers prefix the source ("config.json: ").

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"

namespace evg {

inline constexpr size_t kMaxJsonDepth = 64;

struct JsonLimits {
  size_t max_depth = kMaxJsonDepth;  // objects/arrays nested; the top-level value is depth 1
  bool allow_duplicate_keys = false;
};

Result<nlohmann::json> parseJson(std::string_view text, const JsonLimits& limits = {});

// The same checks, for callers that only need "usable or not": the parsed value, or a discarded
// value (is_discarded()) on any error — a drop-in for json::parse(text, nullptr, false).
nlohmann::json parseJsonOrDiscarded(std::string_view text, const JsonLimits& limits = {});

}  // namespace evg
