#pragma once
// Group: the deployed Greengrass v1 group definition, read from a group file.
//
// The group file is one JSON object holding the v1 definition versions exactly as the AWS
// Greengrass v1 API returns them, under the keys CoreDefinitionVersion, FunctionDefinitionVersion,
// SubscriptionDefinitionVersion, DeviceDefinitionVersion, ResourceDefinitionVersion,
// LoggerDefinitionVersion and ConnectorDefinitionVersion. Each value is either the `Definition`
// object of `aws greengrass get-*-definition-version` (e.g. {"Subscriptions":[...]}) or the whole
// response object carrying a `Definition` key. Every key is optional.
//
// parseGroup validates the whole v1 schema and the cross references (see README.md for the rules);
// the first problem yields one Invalid status naming the element, e.g.
//   Subscriptions[Id=sub-3].Subject: '#/a' is not a valid topic filter: '#' must be the last topic
//   level
//
// Extension (Evergreen): each Core/Device may carry "CertificateFingerprintSha256" (lowercase hex
// of the SHA-256 of its DER certificate). The broker maps a TLS client certificate to a thing with
// it.
//
// Value types only; no I/O except loadGroupFile. Thread-compatible.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "config/arn.h"

namespace evg::group {

using config::ConnectorArn;
using config::LambdaArn;
using config::parseConnectorArn;
using config::parseLambdaArn;
using config::parseThingArn;
using config::ThingArn;
using config::thingNameFromArn;

// A message source or target.
struct Endpoint {
  enum class Kind { kThing, kFunction, kCloud, kShadow, kConnector };
  Kind kind = Kind::kCloud;
  // kThing: thing name; kFunction: full qualified Lambda ARN; kConnector: connector ARN;
  // kCloud / kShadow: empty.
  std::string id;

  static Endpoint thing(std::string name) { return {Kind::kThing, std::move(name)}; }
  static Endpoint function(std::string arn) { return {Kind::kFunction, std::move(arn)}; }
  static Endpoint connector(std::string arn) { return {Kind::kConnector, std::move(arn)}; }
  static Endpoint cloud() { return {Kind::kCloud, {}}; }
  static Endpoint shadow() { return {Kind::kShadow, {}}; }

  bool operator==(const Endpoint& o) const { return kind == o.kind && id == o.id; }
  bool operator!=(const Endpoint& o) const { return !(*this == o); }
  // For logs: "thing:<name>", "function:<arn>", "connector:<arn>", "cloud", "GGShadowService".
  std::string toString() const;
};

struct EndpointHash {
  size_t operator()(const Endpoint& e) const;
};

// A Core or Device entry.
struct Thing {
  std::string id;
  std::string thing_arn;
  std::string thing_name;  // derived from thing_arn
  std::string certificate_arn;
  std::optional<bool> sync_shadow;
  std::string cert_fingerprint_sha256;  // extension; empty when absent
  // True when cert_fingerprint_sha256 was taken from CertificateArn's certificate id (the SHA-256
  // of the DER certificate, as AWS IoT names certificates) because the field was absent.
  bool fingerprint_from_certificate_arn = false;
};

struct RunAs {
  std::optional<int64_t> uid, gid;
};

struct Execution {
  std::optional<std::string> isolation_mode;  // "GreengrassContainer" | "NoContainer"
  std::optional<RunAs> run_as;
};

struct ResourceAccessPolicy {
  std::string resource_id;
  std::optional<std::string> permission;  // "ro" | "rw"
};

struct FunctionEnvironment {
  std::optional<std::vector<std::pair<std::string, std::string>>> variables;
  std::optional<bool> access_sysfs;
  std::optional<Execution> execution;
  std::optional<std::vector<ResourceAccessPolicy>> resource_access_policies;
};

struct FunctionConfiguration {
  std::optional<std::string> encoding_type;  // "json" (default) | "binary"
  std::optional<FunctionEnvironment> environment;
  std::optional<std::string> exec_args;
  std::optional<std::string> executable;
  std::optional<int64_t> memory_size_kb;
  std::optional<bool> pinned;
  std::optional<int64_t> timeout_s;
  std::optional<std::string> function_runtime_override;
};

struct Function {
  std::string id;
  std::string arn;  // qualified
  LambdaArn parsed;
  std::optional<FunctionConfiguration> configuration;
};

struct GroupOwnerSetting {
  std::optional<bool> auto_add_group_owner;
  std::optional<std::string> group_owner;
};

struct ResourceDownloadOwnerSetting {
  std::string group_owner;
  std::string group_permission;  // "ro" | "rw"
};

struct Resource {
  enum class Kind { kLocalDevice, kLocalVolume, kS3Model, kSageMakerModel, kSecret };
  std::string id;
  std::string name;
  Kind kind = Kind::kLocalDevice;
  std::string source_path;                                            // LocalDevice, LocalVolume
  std::string destination_path;                                       // LocalVolume, S3, SageMaker
  std::optional<GroupOwnerSetting> group_owner_setting;               // LocalDevice, LocalVolume
  std::optional<ResourceDownloadOwnerSetting> owner_setting;          // S3, SageMaker
  std::string s3_uri;                                                 // S3
  std::string sagemaker_job_arn;                                      // SageMaker
  std::string secret_arn;                                             // Secret
  std::optional<std::vector<std::string>> additional_staging_labels;  // Secret
};

struct LoggerConfig {
  std::string id;
  std::string component;  // "GreengrassSystem" | "Lambda"
  std::string level;      // "DEBUG" | "INFO" | "WARN" | "ERROR" | "FATAL"
  std::optional<int64_t> space_kb;
  std::string type;  // "FileSystem" | "AWSCloudWatch"
};

struct Connector {
  std::string id;
  std::string arn;
  ConnectorArn parsed;
  std::optional<std::vector<std::pair<std::string, std::string>>> parameters;
};

struct Subscription {
  std::string id;
  std::string source;  // as written: ARN, "cloud" or "GGShadowService"
  std::string subject;
  std::string target;
  Endpoint source_endpoint;
  Endpoint target_endpoint;
};

// The bounds checked by parseGroup (v1 quotas by default).
struct GroupLimits {
  size_t max_subscriptions = 10000;
  size_t max_cloud_source_subscriptions = 50;
  size_t max_functions = 200;
  size_t max_devices = 2500;
  size_t max_resources = 200;
  size_t max_resources_per_function = 20;
  size_t max_subject_bytes = 256;
  int max_subject_slashes = 7;
};

struct Group {
  // Which definition keys were present (so toJson writes back exactly those).
  bool has_core_definition = false, has_function_definition = false,
       has_subscription_definition = false, has_device_definition = false,
       has_resource_definition = false, has_logger_definition = false,
       has_connector_definition = false;

  std::vector<Thing> cores;
  std::optional<Execution> function_default_execution;  // FunctionDefinitionVersion.DefaultConfig
  std::vector<Function> functions;
  std::vector<Thing> devices;
  std::vector<Resource> resources;
  std::vector<LoggerConfig> loggers;
  std::vector<Connector> connectors;
  std::vector<Subscription> subscriptions;

  // Lookups (linear; groups are small and these run at connect/deploy time, not per message).
  const Thing* findThingByName(std::string_view thing_name) const;  // cores and devices
  const Thing* findThingByFingerprint(std::string_view sha256_hex) const;
  const Function* findFunction(std::string_view qualified_arn) const;
  const Resource* findResource(std::string_view id) const;
  // The core thing (nullptr without a CoreDefinitionVersion).
  const Thing* core() const { return cores.empty() ? nullptr : &cores.front(); }
};

Result<Group> parseGroup(const nlohmann::json& j, const GroupLimits& limits = {});
// Errors: Io (unreadable), Invalid (syntax or validation; message prefixed with the path).
Result<Group> loadGroupFile(const std::string& path, const GroupLimits& limits = {});
// The group file form (Definition objects, no response wrappers); parseGroup(toJson(g)) == g.
nlohmann::json toJson(const Group& g);

// Classifies a subscription Source/Target string. Does not check membership in the group.
Result<Endpoint> parseEndpoint(std::string_view s);

}  // namespace evg::group
