#pragma once
// Tolerant reader of a Greengrass v1 core's on-device group file
// (<write>/ggc/deployment/group/group.json). Its exact shape is not public
// (shared/reference/v1-layout-and-iot-jobs.md §A.4): it uses the API's PascalCase names, may wrap
// the definitions differently, and enriches function entries with Lambda-side fields such as
// `Handler` and `Runtime`. readV1Group accepts
//   - the API shape `evergreen deploy` reads ({"FunctionDefinitionVersion": {"Functions": [...]}}
//     or the whole get-*-definition-version response with "Definition"),
//   - bare lists at the top level ({"Functions": [...], "Subscriptions": [...]}) or inside one
//     wrapper object ("GroupVersion", "Group", "Definition", "group"),
//   - keys in any letter case (camelCase, lowercase),
// and returns the group in the API shape plus, per function, the Lambda-side fields. Every key
// that is not part of the API shape is dropped and named in `dropped` (never silently). `{}` (or
// a file with no definitions) is the empty group: v1's own "no group" file.
//
// Pure: no I/O. The result still has to pass group::parseGroup (the importer checks it).

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::importer {

// Lambda-side fields found on a function entry (keyed by the FunctionArn as written).
struct LambdaSide {
  std::string handler;  // "Handler"
  std::string runtime;  // "Runtime"
  std::string code_sha256;
};

struct V1GroupRead {
  nlohmann::json group = nlohmann::json::object();  // API shape, only API keys
  std::map<std::string, LambdaSide> lambda;         // FunctionArn -> Lambda-side fields
  std::vector<std::string> dropped;  // "Functions[Id=f1].CodeSha256: not part of the API shape"
  std::vector<std::string> notes;    // e.g. ids generated for entries without one
  bool empty = true;                 // no definition at all ("{}")
};

Result<V1GroupRead> readV1Group(const nlohmann::json& j);

}  // namespace evg::importer
