#pragma once
// FunctionSpec: the value the daemon hands to the function host for every deployed Lambda.
// It is deliberately a flat value (no pointers into the group model): the daemon converts
// evg::group function entries (plus the function store's resolve()) into FunctionSpecs.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evg::functions {

enum class Encoding { kJson, kBinary };
enum class Isolation { kNoContainer, kGreengrassContainer };

std::string_view encodingName(Encoding e);  // "json" | "binary" (the ENCODING_TYPE value)

// A group resource granted to the function (ResourceAccessPolicies), resolved at deploy. Only
// GreengrassContainer functions get them attached (v1: resources need a container).
struct ResourceMount {
  enum class Kind { kVolume, kDevice, kModel };
  Kind kind = Kind::kVolume;
  std::string id;           // ResourceId (error messages)
  std::string source;       // host path: volume dir/file, device node, local model directory
  std::string destination;  // path inside the container (devices: the source path)
  bool read_only = true;    // Permission "ro" | "rw" (models are always read-only)
  // GroupOwnerSetting resolved at deploy: this gid is added to the worker's groups.
  std::optional<uint32_t> group_owner_gid;

  bool operator==(const ResourceMount&) const = default;
};

struct FunctionSpec {
  // Qualified ARN exactly as deployed (becomes MY_FUNCTION_ARN; the IPC path key).
  std::string arn;
  std::string runtime;  // python3.8, python2.7, nodejs12.x, java8, arn:aws:greengrass:::runtime/...
  std::string handler;  // module.function for Python
  std::string code_dir;  // absolute directory holding the unpacked code (worker cwd)
  Encoding encoding = Encoding::kJson;
  bool pinned = false;
  uint32_t timeout_ms = 3000;  // per invocation (v1 default 3 s)
  uint32_t memory_kb = 16384;  // v1 default 16 MB; exported, enforced only by container backends
  std::map<std::string, std::string> env;  // Environment.Variables
  std::optional<uint32_t> run_as_uid;      // Execution.RunAs; unset: the daemon's own identity
  std::optional<uint32_t> run_as_gid;
  Isolation isolation = Isolation::kNoContainer;
  // Per-function cap on concurrent on-demand workers; 0 = host default. Pinned is always 1.
  uint32_t max_instances = 0;
  std::vector<ResourceMount> resources;  // GreengrassContainer only
  bool access_sysfs = false;             // Environment.AccessSysfs: /sys mounted read-only

  bool operator==(const FunctionSpec&) const = default;
};

}  // namespace evg::functions
