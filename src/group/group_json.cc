// toJson(Group): writes the group file form back (Definition objects only), emitting exactly the
// optional fields that were present, so parseGroup(toJson(g)) reproduces g and a parsed group file
// without response wrappers round-trips to identical JSON.
#include "group/group.h"

namespace evg::group {

using nlohmann::json;

namespace {

json stringMapJson(const std::vector<std::pair<std::string, std::string>>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

json thingJson(const Thing& t) {
  json j = {{"Id", t.id}, {"ThingArn", t.thing_arn}, {"CertificateArn", t.certificate_arn}};
  if (t.sync_shadow) j["SyncShadow"] = *t.sync_shadow;
  if (!t.cert_fingerprint_sha256.empty() && !t.fingerprint_from_certificate_arn) {
    j["CertificateFingerprintSha256"] = t.cert_fingerprint_sha256;
  }
  return j;
}

json executionJson(const Execution& e) {
  json j = json::object();
  if (e.isolation_mode) j["IsolationMode"] = *e.isolation_mode;
  if (e.run_as) {
    json ra = json::object();
    if (e.run_as->uid) ra["Uid"] = *e.run_as->uid;
    if (e.run_as->gid) ra["Gid"] = *e.run_as->gid;
    j["RunAs"] = ra;
  }
  return j;
}

json functionJson(const Function& f) {
  json j = {{"Id", f.id}, {"FunctionArn", f.arn}};
  if (!f.configuration) return j;
  const FunctionConfiguration& c = *f.configuration;
  json fc = json::object();
  if (c.encoding_type) fc["EncodingType"] = *c.encoding_type;
  if (c.environment) {
    const FunctionEnvironment& e = *c.environment;
    json env = json::object();
    if (e.variables) env["Variables"] = stringMapJson(*e.variables);
    if (e.access_sysfs) env["AccessSysfs"] = *e.access_sysfs;
    if (e.execution) env["Execution"] = executionJson(*e.execution);
    if (e.resource_access_policies) {
      json arr = json::array();
      for (const auto& p : *e.resource_access_policies) {
        json pj = {{"ResourceId", p.resource_id}};
        if (p.permission) pj["Permission"] = *p.permission;
        arr.push_back(pj);
      }
      env["ResourceAccessPolicies"] = arr;
    }
    fc["Environment"] = env;
  }
  if (c.exec_args) fc["ExecArgs"] = *c.exec_args;
  if (c.executable) fc["Executable"] = *c.executable;
  if (c.memory_size_kb) fc["MemorySize"] = *c.memory_size_kb;
  if (c.pinned) fc["Pinned"] = *c.pinned;
  if (c.timeout_s) fc["Timeout"] = *c.timeout_s;
  if (c.function_runtime_override) fc["FunctionRuntimeOverride"] = *c.function_runtime_override;
  j["FunctionConfiguration"] = fc;
  return j;
}

void groupOwnerJson(const std::optional<GroupOwnerSetting>& g, json* data) {
  if (!g) return;
  json s = json::object();
  if (g->auto_add_group_owner) s["AutoAddGroupOwner"] = *g->auto_add_group_owner;
  if (g->group_owner) s["GroupOwner"] = *g->group_owner;
  (*data)["GroupOwnerSetting"] = s;
}

void ownerJson(const std::optional<ResourceDownloadOwnerSetting>& o, json* data) {
  if (!o) return;
  (*data)["OwnerSetting"] = {{"GroupOwner", o->group_owner},
                             {"GroupPermission", o->group_permission}};
}

json resourceJson(const Resource& r) {
  json data = json::object();
  std::string key;
  switch (r.kind) {
    case Resource::Kind::kLocalDevice:
      key = "LocalDeviceResourceData";
      data["SourcePath"] = r.source_path;
      groupOwnerJson(r.group_owner_setting, &data);
      break;
    case Resource::Kind::kLocalVolume:
      key = "LocalVolumeResourceData";
      data["SourcePath"] = r.source_path;
      data["DestinationPath"] = r.destination_path;
      groupOwnerJson(r.group_owner_setting, &data);
      break;
    case Resource::Kind::kS3Model:
      key = "S3MachineLearningModelResourceData";
      data["DestinationPath"] = r.destination_path;
      data["S3Uri"] = r.s3_uri;
      ownerJson(r.owner_setting, &data);
      break;
    case Resource::Kind::kSageMakerModel:
      key = "SageMakerMachineLearningModelResourceData";
      data["DestinationPath"] = r.destination_path;
      data["SageMakerJobArn"] = r.sagemaker_job_arn;
      ownerJson(r.owner_setting, &data);
      break;
    case Resource::Kind::kSecret:
      key = "SecretsManagerSecretResourceData";
      data["ARN"] = r.secret_arn;
      if (r.additional_staging_labels) {
        data["AdditionalStagingLabelsToDownload"] = *r.additional_staging_labels;
      }
      break;
  }
  return {{"Id", r.id}, {"Name", r.name}, {"ResourceDataContainer", {{key, data}}}};
}

}  // namespace

json toJson(const Group& g) {
  json j = json::object();
  if (g.has_core_definition) {
    json arr = json::array();
    for (const auto& t : g.cores) arr.push_back(thingJson(t));
    j["CoreDefinitionVersion"] = {{"Cores", arr}};
  }
  if (g.has_function_definition) {
    json def = json::object();
    json arr = json::array();
    for (const auto& f : g.functions) arr.push_back(functionJson(f));
    def["Functions"] = arr;
    if (g.function_default_execution) {
      def["DefaultConfig"] = {{"Execution", executionJson(*g.function_default_execution)}};
    }
    j["FunctionDefinitionVersion"] = def;
  }
  if (g.has_subscription_definition) {
    json arr = json::array();
    for (const auto& s : g.subscriptions) {
      arr.push_back(
          {{"Id", s.id}, {"Source", s.source}, {"Subject", s.subject}, {"Target", s.target}});
    }
    j["SubscriptionDefinitionVersion"] = {{"Subscriptions", arr}};
  }
  if (g.has_device_definition) {
    json arr = json::array();
    for (const auto& t : g.devices) arr.push_back(thingJson(t));
    j["DeviceDefinitionVersion"] = {{"Devices", arr}};
  }
  if (g.has_resource_definition) {
    json arr = json::array();
    for (const auto& r : g.resources) arr.push_back(resourceJson(r));
    j["ResourceDefinitionVersion"] = {{"Resources", arr}};
  }
  if (g.has_logger_definition) {
    json arr = json::array();
    for (const auto& l : g.loggers) {
      json lj = {{"Id", l.id}, {"Component", l.component}, {"Level", l.level}, {"Type", l.type}};
      if (l.space_kb) lj["Space"] = *l.space_kb;
      arr.push_back(lj);
    }
    j["LoggerDefinitionVersion"] = {{"Loggers", arr}};
  }
  if (g.has_connector_definition) {
    json arr = json::array();
    for (const auto& c : g.connectors) {
      json cj = {{"Id", c.id}, {"ConnectorArn", c.arn}};
      if (c.parameters) cj["Parameters"] = stringMapJson(*c.parameters);
      arr.push_back(cj);
    }
    j["ConnectorDefinitionVersion"] = {{"Connectors", arr}};
  }
  return j;
}

}  // namespace evg::group
