#pragma once
// The Evergreen IoT job document, schema "evergreen/job/1" (docs/fleet-deployments.md,
// "Job document reference"): parse + validate. Every rejection names the offending field, so the
// device can report it as the REJECTED reason.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::jobs {

inline constexpr const char* kSchemaV1 = "evergreen/job/1";
inline constexpr size_t kMaxDocumentBytes = 32768;  // AWS IoT Jobs' document limit
inline constexpr int kMaxHealthWindowSeconds = 600;
// Remote config keys the device accepts in "config" (anything else is REJECTED).
const std::vector<std::string>& remoteConfigKeys();

struct Artifact {
  std::string url;     // https://... (a presigned placeholder must have been replaced)
  std::string sha256;  // 64 lowercase hex
  std::optional<uint64_t> size;
};

struct FunctionArtifact {
  std::string name;
  uint64_t version = 0;
  std::string runtime;
  std::string handler;
  Artifact artifact;
};

struct JobDocument {
  std::string deployment_id;  // optional operator label
  std::optional<nlohmann::json> group;
  std::optional<Artifact> group_artifact;
  std::vector<FunctionArtifact> functions;
  std::map<std::string, std::string> config;
  bool rollback_on_failure = true;  // failurePolicy rollback (default) | leave
  int health_window_s = 10;
};

// Validates `doc` (a JSON object, as IoT Jobs delivers it over MQTT). Invalid: the message names
// the field ("functions[1].artifact.sha256: ..."). Unsupported: a schema this device does not
// know. TooLarge: over kMaxDocumentBytes.
Result<JobDocument> parseJobDocument(const nlohmann::json& doc);

// The document with presigned query strings removed from every URL ("https://h/p?X-Amz-..." ->
// "https://h/p"), serialised canonically: two deliveries of one execution whose URLs were only
// re-signed compare equal (aws-iot-device-client's compareJobDocuments).
std::string canonicalWithoutPresign(const nlohmann::json& doc);

// SHA-256 (hex) of canonicalWithoutPresign(doc).
std::string documentDigest(const nlohmann::json& doc);

}  // namespace evg::jobs
