#include "group/group.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "base/host_paths.h"
#include "config/json_fields.h"
#include "mqtt/topic.h"

namespace evg::group {

using config::describeJson;
using config::fieldError;
using config::FieldReader;
using nlohmann::json;

std::string Endpoint::toString() const {
  switch (kind) {
    case Kind::kThing:
      return "thing:" + id;
    case Kind::kFunction:
      return "function:" + id;
    case Kind::kConnector:
      return "connector:" + id;
    case Kind::kCloud:
      return "cloud";
    case Kind::kShadow:
      return "GGShadowService";
  }
  return "?";
}

size_t EndpointHash::operator()(const Endpoint& e) const {
  return std::hash<std::string>()(e.id) * 31 + static_cast<size_t>(e.kind);
}

Result<Endpoint> parseEndpoint(std::string_view s) {
  if (s == "cloud") return Endpoint::cloud();
  if (s == "GGShadowService") return Endpoint::shadow();
  switch (config::arnService(s)) {
    case config::ArnService::kIot: {
      auto t = parseThingArn(s);
      if (!t) return t.status();
      return Endpoint::thing(t->name);
    }
    case config::ArnService::kLambda: {
      auto l = parseLambdaArn(s, true);
      if (!l) return l.status();
      return Endpoint::function(std::string(s));
    }
    case config::ArnService::kGreengrass: {
      auto c = parseConnectorArn(s);
      if (!c) return c.status();
      return Endpoint::connector(std::string(s));
    }
    default:
      break;
  }
  return Status::invalid("'" + std::string(s) +
                         "' is not a thing ARN, Lambda function ARN, connector ARN, 'cloud' or "
                         "'GGShadowService'");
}

namespace {

bool validId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool validFingerprint(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Resolves the definition object under `key`, unwrapping a get-*-definition-version response.
Status definitionOf(FieldReader& top, std::string_view key, const json** out) {
  EVG_RETURN_IF_ERROR(top.object(key, out));
  if (*out == nullptr) return Status::ok();
  if ((*out)->contains("Definition")) {
    FieldReader w(**out, std::string(key));
    const json* def = nullptr;
    EVG_RETURN_IF_ERROR(w.object("Definition", &def, true));
    *out = def;
  }
  return Status::ok();
}

// Iterates list `list_key` of `def`: validates each element is an object with a valid, unique Id
// and calls fn(element, label, id) where label is "<List>[Id=<id>]".
Status forEachElement(
    const json* def, std::string_view list_key, size_t limit,
    const std::function<Status(const json&, const std::string&, const std::string&)>& fn) {
  if (def == nullptr) return Status::ok();
  FieldReader r(*def, "");
  const json* arr = nullptr;
  EVG_RETURN_IF_ERROR(r.array(list_key, &arr));
  if (arr == nullptr) return Status::ok();
  if (arr->size() > limit) {
    return fieldError(list_key, std::to_string(arr->size()) + " entries exceed the limit of " +
                                    std::to_string(limit));
  }
  std::unordered_set<std::string> ids;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& e = (*arr)[i];
    std::string index_label = std::string(list_key) + "[" + std::to_string(i) + "]";
    EVG_RETURN_IF_ERROR(config::requireObject(e, index_label));
    FieldReader er(e, index_label);
    std::string id;
    EVG_RETURN_IF_ERROR(er.string("Id", &id, true));
    if (!validId(id)) {
      return fieldError(er.path("Id"), describeJson(json(id)) +
                                           " is not a valid Id: 1-128 characters of "
                                           "[a-zA-Z0-9:_-]");
    }
    std::string label = std::string(list_key) + "[Id=" + id + "]";
    if (!ids.insert(id).second) return fieldError(label + ".Id", "duplicate Id");
    EVG_RETURN_IF_ERROR(fn(e, label, id));
  }
  return Status::ok();
}

// Refuses keys of a definition object other than `keys`.
Status checkDefinitionKeys(const json* def, std::string_view name,
                           std::initializer_list<std::string_view> keys) {
  if (def == nullptr) return Status::ok();
  FieldReader r(*def, std::string(name));
  for (std::string_view k : keys) r.find(k);
  return r.rejectUnknown();
}

Status parseThings(const json* def, std::string_view list_key, size_t limit,
                   std::vector<Thing>* out) {
  return forEachElement(
      def, list_key, limit, [&](const json& e, const std::string& label, const std::string& id) {
        FieldReader r(e, label);
        r.find("Id");
        Thing t;
        t.id = id;
        EVG_RETURN_IF_ERROR(r.string("ThingArn", &t.thing_arn, true));
        auto arn = parseThingArn(t.thing_arn);
        if (!arn) return fieldError(r.path("ThingArn"), arn.status().message());
        t.thing_name = arn->name;
        EVG_RETURN_IF_ERROR(r.string("CertificateArn", &t.certificate_arn, true));
        EVG_RETURN_IF_ERROR(r.boolean("SyncShadow", &t.sync_shadow));
        EVG_RETURN_IF_ERROR(r.string("CertificateFingerprintSha256", &t.cert_fingerprint_sha256));
        if (r.has("CertificateFingerprintSha256") && !validFingerprint(t.cert_fingerprint_sha256)) {
          return fieldError(r.path("CertificateFingerprintSha256"),
                            "expected 64 lowercase hex characters (SHA-256 of "
                            "the DER certificate), got " +
                                describeJson(json(t.cert_fingerprint_sha256)));
        }
        // AWS IoT names a certificate by its id, the SHA-256 of its DER encoding: a device that
        // keeps its AWS IoT certificate is pinned by the last part of its CertificateArn.
        if (!r.has("CertificateFingerprintSha256")) {
          auto slash = t.certificate_arn.rfind('/');
          std::string cert_id =
              slash == std::string::npos ? "" : t.certificate_arn.substr(slash + 1);
          std::transform(cert_id.begin(), cert_id.end(), cert_id.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          if (validFingerprint(cert_id)) {
            t.cert_fingerprint_sha256 = cert_id;
            t.fingerprint_from_certificate_arn = true;
          }
        }
        out->push_back(std::move(t));
        return r.rejectUnknown();
      });
}

Status parseExecution(const json& j, const std::string& path, Execution* out) {
  FieldReader r(j, path);
  std::string mode;
  EVG_RETURN_IF_ERROR(r.enumString("IsolationMode", {"GreengrassContainer", "NoContainer"}, &mode));
  if (!mode.empty()) out->isolation_mode = mode;
  const json* run_as = nullptr;
  EVG_RETURN_IF_ERROR(r.object("RunAs", &run_as));
  if (run_as != nullptr) {
    FieldReader ra(*run_as, r.path("RunAs"));
    RunAs v;
    EVG_RETURN_IF_ERROR(ra.integer("Uid", 0, INT32_MAX, &v.uid));
    EVG_RETURN_IF_ERROR(ra.integer("Gid", 0, INT32_MAX, &v.gid));
    EVG_RETURN_IF_ERROR(ra.rejectUnknown());
    out->run_as = v;
  }
  return r.rejectUnknown();
}

Status parseEnvironment(const json& j, const std::string& path, size_t max_resources,
                        FunctionEnvironment* env) {
  FieldReader r(j, path);
  if (r.has("Variables")) {
    std::vector<std::pair<std::string, std::string>> vars;
    EVG_RETURN_IF_ERROR(r.stringMap("Variables", &vars));
    env->variables = std::move(vars);
  } else {
    r.find("Variables");
  }
  EVG_RETURN_IF_ERROR(r.boolean("AccessSysfs", &env->access_sysfs));
  const json* exec = nullptr;
  EVG_RETURN_IF_ERROR(r.object("Execution", &exec));
  if (exec != nullptr) {
    Execution e;
    EVG_RETURN_IF_ERROR(parseExecution(*exec, r.path("Execution"), &e));
    env->execution = std::move(e);
  }
  const json* rap = nullptr;
  EVG_RETURN_IF_ERROR(r.array("ResourceAccessPolicies", &rap));
  if (rap != nullptr) {
    if (rap->size() > max_resources) {
      return fieldError(r.path("ResourceAccessPolicies"), std::to_string(rap->size()) +
                                                              " entries exceed the limit of " +
                                                              std::to_string(max_resources));
    }
    std::vector<ResourceAccessPolicy> policies;
    for (size_t i = 0; i < rap->size(); ++i) {
      std::string p = r.path("ResourceAccessPolicies") + "[" + std::to_string(i) + "]";
      EVG_RETURN_IF_ERROR(config::requireObject((*rap)[i], p));
      FieldReader pr((*rap)[i], p);
      ResourceAccessPolicy pol;
      EVG_RETURN_IF_ERROR(pr.nonEmptyString("ResourceId", &pol.resource_id, true));
      std::string perm;
      EVG_RETURN_IF_ERROR(pr.enumString("Permission", {"ro", "rw"}, &perm));
      if (!perm.empty()) pol.permission = perm;
      EVG_RETURN_IF_ERROR(pr.rejectUnknown());
      policies.push_back(std::move(pol));
    }
    env->resource_access_policies = std::move(policies);
  }
  return r.rejectUnknown();
}

Status parseFunctionConfiguration(const json& j, const std::string& path, size_t max_resources,
                                  FunctionConfiguration* fc) {
  FieldReader r(j, path);
  std::string enc;
  EVG_RETURN_IF_ERROR(r.enumString("EncodingType", {"json", "binary"}, &enc));
  if (!enc.empty()) fc->encoding_type = enc;
  const json* env = nullptr;
  EVG_RETURN_IF_ERROR(r.object("Environment", &env));
  if (env != nullptr) {
    FunctionEnvironment e;
    EVG_RETURN_IF_ERROR(parseEnvironment(*env, r.path("Environment"), max_resources, &e));
    fc->environment = std::move(e);
  }
  EVG_RETURN_IF_ERROR(r.string("ExecArgs", &fc->exec_args));
  EVG_RETURN_IF_ERROR(r.string("Executable", &fc->executable));
  EVG_RETURN_IF_ERROR(r.integer("MemorySize", 1, INT32_MAX, &fc->memory_size_kb));
  EVG_RETURN_IF_ERROR(r.boolean("Pinned", &fc->pinned));
  EVG_RETURN_IF_ERROR(r.integer("Timeout", 1, INT32_MAX, &fc->timeout_s));
  EVG_RETURN_IF_ERROR(r.string("FunctionRuntimeOverride", &fc->function_runtime_override));
  return r.rejectUnknown();
}

Status parseOwnerSetting(FieldReader& r, std::optional<ResourceDownloadOwnerSetting>* out) {
  const json* os = nullptr;
  EVG_RETURN_IF_ERROR(r.object("OwnerSetting", &os));
  if (os == nullptr) return Status::ok();
  FieldReader o(*os, r.path("OwnerSetting"));
  ResourceDownloadOwnerSetting s;
  EVG_RETURN_IF_ERROR(o.nonEmptyString("GroupOwner", &s.group_owner, true));
  EVG_RETURN_IF_ERROR(o.enumString("GroupPermission", {"ro", "rw"}, &s.group_permission, true));
  EVG_RETURN_IF_ERROR(o.rejectUnknown());
  *out = std::move(s);
  return Status::ok();
}

Status parseGroupOwnerSetting(FieldReader& r, std::optional<GroupOwnerSetting>* out) {
  const json* gos = nullptr;
  EVG_RETURN_IF_ERROR(r.object("GroupOwnerSetting", &gos));
  if (gos == nullptr) return Status::ok();
  FieldReader g(*gos, r.path("GroupOwnerSetting"));
  GroupOwnerSetting s;
  EVG_RETURN_IF_ERROR(g.boolean("AutoAddGroupOwner", &s.auto_add_group_owner));
  EVG_RETURN_IF_ERROR(g.string("GroupOwner", &s.group_owner));
  EVG_RETURN_IF_ERROR(g.rejectUnknown());
  *out = std::move(s);
  return Status::ok();
}

Status absolutePath(FieldReader& r, std::string_view key, std::string* out) {
  EVG_RETURN_IF_ERROR(r.nonEmptyString(key, out, true));
  if ((*out)[0] != '/') {
    return fieldError(r.path(key), "expected an absolute path, got " + describeJson(json(*out)));
  }
  return Status::ok();
}

Status parseResourceData(const json& j, const std::string& path, Resource* res) {
  FieldReader r(j, path);
  static const std::pair<std::string_view, Resource::Kind> kKinds[] = {
      {"LocalDeviceResourceData", Resource::Kind::kLocalDevice},
      {"LocalVolumeResourceData", Resource::Kind::kLocalVolume},
      {"S3MachineLearningModelResourceData", Resource::Kind::kS3Model},
      {"SageMakerMachineLearningModelResourceData", Resource::Kind::kSageMakerModel},
      {"SecretsManagerSecretResourceData", Resource::Kind::kSecret},
  };
  const json* data = nullptr;
  std::string data_key;
  for (const auto& [key, kind] : kKinds) {
    const json* d = nullptr;
    EVG_RETURN_IF_ERROR(r.object(key, &d));
    if (d == nullptr) continue;
    if (data != nullptr) {
      return fieldError(path, "exactly one resource data kind allowed, got " + data_key + " and " +
                                  std::string(key));
    }
    data = d;
    data_key = key;
    res->kind = kind;
  }
  EVG_RETURN_IF_ERROR(r.rejectUnknown());
  if (data == nullptr) {
    return fieldError(path,
                      "expected one of LocalDeviceResourceData, LocalVolumeResourceData, "
                      "S3MachineLearningModelResourceData, "
                      "SageMakerMachineLearningModelResourceData, "
                      "SecretsManagerSecretResourceData");
  }
  FieldReader d(*data, r.path(data_key));
  switch (res->kind) {
    case Resource::Kind::kLocalDevice:
      EVG_RETURN_IF_ERROR(absolutePath(d, "SourcePath", &res->source_path));
      // Normalised first: "/dev/../etc/shadow" is /etc/shadow, not a device.
      if (deviceSourceProblem(lexicallyNormalPath(res->source_path))) {
        return fieldError(d.path("SourcePath"), "expected a path under /dev/, got " +
                                                    describeJson(json(res->source_path)));
      }
      res->source_path = lexicallyNormalPath(res->source_path);
      EVG_RETURN_IF_ERROR(parseGroupOwnerSetting(d, &res->group_owner_setting));
      break;
    case Resource::Kind::kLocalVolume:
      EVG_RETURN_IF_ERROR(absolutePath(d, "SourcePath", &res->source_path));
      if (auto why = volumeSourceProblem(lexicallyNormalPath(res->source_path))) {
        return fieldError(d.path("SourcePath"),
                          describeJson(json(res->source_path)) + " is not allowed: " + *why);
      }
      res->source_path = lexicallyNormalPath(res->source_path);
      EVG_RETURN_IF_ERROR(absolutePath(d, "DestinationPath", &res->destination_path));
      EVG_RETURN_IF_ERROR(parseGroupOwnerSetting(d, &res->group_owner_setting));
      break;
    case Resource::Kind::kS3Model:
      EVG_RETURN_IF_ERROR(absolutePath(d, "DestinationPath", &res->destination_path));
      EVG_RETURN_IF_ERROR(d.nonEmptyString("S3Uri", &res->s3_uri, true));
      EVG_RETURN_IF_ERROR(parseOwnerSetting(d, &res->owner_setting));
      break;
    case Resource::Kind::kSageMakerModel:
      EVG_RETURN_IF_ERROR(absolutePath(d, "DestinationPath", &res->destination_path));
      EVG_RETURN_IF_ERROR(d.nonEmptyString("SageMakerJobArn", &res->sagemaker_job_arn, true));
      EVG_RETURN_IF_ERROR(parseOwnerSetting(d, &res->owner_setting));
      break;
    case Resource::Kind::kSecret: {
      EVG_RETURN_IF_ERROR(d.nonEmptyString("ARN", &res->secret_arn, true));
      if (res->secret_arn.rfind("arn:", 0) != 0 ||
          res->secret_arn.find(":secretsmanager:") == std::string::npos) {
        return fieldError(d.path("ARN"), "expected a Secrets Manager secret ARN, got " +
                                             describeJson(json(res->secret_arn)));
      }
      if (d.has("AdditionalStagingLabelsToDownload")) {
        std::vector<std::string> labels;
        EVG_RETURN_IF_ERROR(d.stringArray("AdditionalStagingLabelsToDownload", &labels));
        res->additional_staging_labels = std::move(labels);
      } else {
        d.find("AdditionalStagingLabelsToDownload");
      }
      break;
    }
  }
  return d.rejectUnknown();
}

Status checkSubject(const std::string& subject, const std::string& path, const GroupLimits& lim) {
  Status s = mqtt::validateTopicFilter(subject);
  if (!s) {
    return fieldError(path, "'" + subject + "' is not a valid topic filter: " + s.message());
  }
  if (subject.size() > lim.max_subject_bytes) {
    return fieldError(path, "'" + subject + "' is longer than " +
                                std::to_string(lim.max_subject_bytes) + " bytes");
  }
  int slashes = mqtt::countLevels(subject);
  if (slashes > lim.max_subject_slashes) {
    return fieldError(path, "'" + subject + "' has " + std::to_string(slashes) +
                                " '/' separators, more than " +
                                std::to_string(lim.max_subject_slashes));
  }
  return Status::ok();
}

struct Index {
  std::unordered_set<std::string> thing_arns;
  std::unordered_set<std::string> function_arns;
  std::unordered_set<std::string> connector_arns;
};

Status checkEndpoint(const std::string& value, const std::string& path, const Index& idx,
                     Endpoint* out) {
  auto ep = parseEndpoint(value);
  if (!ep) return fieldError(path, ep.status().message());
  switch (ep->kind) {
    case Endpoint::Kind::kThing:
      if (!idx.thing_arns.count(value)) {
        return fieldError(path, "thing '" + value + "' is not in Devices or Cores");
      }
      break;
    case Endpoint::Kind::kFunction:
      if (!idx.function_arns.count(value)) {
        return fieldError(path, "function '" + value + "' is not in Functions");
      }
      break;
    case Endpoint::Kind::kConnector:
      if (!idx.connector_arns.count(value)) {
        return fieldError(path, "connector '" + value + "' is not in Connectors");
      }
      break;
    default:
      break;
  }
  *out = std::move(ep.value());
  return Status::ok();
}

}  // namespace

Result<Group> parseGroup(const json& j, const GroupLimits& lim) {
  EVG_RETURN_IF_ERROR(config::requireObject(j, ""));
  Group g;
  FieldReader top(j, "");
  const json *core = nullptr, *fn = nullptr, *sub = nullptr, *dev = nullptr, *res = nullptr,
             *log = nullptr, *con = nullptr;
  EVG_RETURN_IF_ERROR(definitionOf(top, "CoreDefinitionVersion", &core));
  EVG_RETURN_IF_ERROR(definitionOf(top, "FunctionDefinitionVersion", &fn));
  EVG_RETURN_IF_ERROR(definitionOf(top, "SubscriptionDefinitionVersion", &sub));
  EVG_RETURN_IF_ERROR(definitionOf(top, "DeviceDefinitionVersion", &dev));
  EVG_RETURN_IF_ERROR(definitionOf(top, "ResourceDefinitionVersion", &res));
  EVG_RETURN_IF_ERROR(definitionOf(top, "LoggerDefinitionVersion", &log));
  EVG_RETURN_IF_ERROR(definitionOf(top, "ConnectorDefinitionVersion", &con));
  EVG_RETURN_IF_ERROR(top.rejectUnknown());
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(core, "CoreDefinitionVersion", {"Cores"}));
  EVG_RETURN_IF_ERROR(
      checkDefinitionKeys(fn, "FunctionDefinitionVersion", {"Functions", "DefaultConfig"}));
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(sub, "SubscriptionDefinitionVersion", {"Subscriptions"}));
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(dev, "DeviceDefinitionVersion", {"Devices"}));
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(res, "ResourceDefinitionVersion", {"Resources"}));
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(log, "LoggerDefinitionVersion", {"Loggers"}));
  EVG_RETURN_IF_ERROR(checkDefinitionKeys(con, "ConnectorDefinitionVersion", {"Connectors"}));
  g.has_core_definition = core != nullptr;
  g.has_function_definition = fn != nullptr;
  g.has_subscription_definition = sub != nullptr;
  g.has_device_definition = dev != nullptr;
  g.has_resource_definition = res != nullptr;
  g.has_logger_definition = log != nullptr;
  g.has_connector_definition = con != nullptr;

  Index idx;
  // Cores and devices.
  EVG_RETURN_IF_ERROR(parseThings(core, "Cores", 1, &g.cores));
  EVG_RETURN_IF_ERROR(parseThings(dev, "Devices", lim.max_devices, &g.devices));
  {
    std::unordered_map<std::string, std::string> fingerprints;
    for (auto* list : {&g.cores, &g.devices}) {
      const char* name = list == &g.cores ? "Cores" : "Devices";
      for (const Thing& t : *list) {
        std::string label = std::string(name) + "[Id=" + t.id + "]";
        if (!idx.thing_arns.insert(t.thing_arn).second) {
          return fieldError(label + ".ThingArn", "thing '" + t.thing_arn + "' is listed twice");
        }
        if (!t.cert_fingerprint_sha256.empty() &&
            !fingerprints.emplace(t.cert_fingerprint_sha256, label).second) {
          return fieldError(label + ".CertificateFingerprintSha256",
                            "same certificate as " + fingerprints[t.cert_fingerprint_sha256]);
        }
      }
    }
  }

  // Functions.
  if (fn != nullptr) {
    FieldReader fr(*fn, "");
    const json* dc = nullptr;
    EVG_RETURN_IF_ERROR(fr.object("DefaultConfig", &dc));
    if (dc != nullptr) {
      FieldReader dr(*dc, "DefaultConfig");
      const json* exec = nullptr;
      EVG_RETURN_IF_ERROR(dr.object("Execution", &exec));
      if (exec != nullptr) {
        Execution e;
        EVG_RETURN_IF_ERROR(parseExecution(*exec, dr.path("Execution"), &e));
        g.function_default_execution = std::move(e);
      }
      EVG_RETURN_IF_ERROR(dr.rejectUnknown());
    }
  }
  if (Status st = forEachElement(
          fn, "Functions", lim.max_functions,
          [&](const json& e, const std::string& label, const std::string& id) {
            FieldReader r(e, label);
            r.find("Id");
            Function f;
            f.id = id;
            EVG_RETURN_IF_ERROR(r.string("FunctionArn", &f.arn, true));
            auto arn = parseLambdaArn(f.arn, true);
            if (!arn) return fieldError(r.path("FunctionArn"), arn.status().message());
            f.parsed = std::move(arn.value());
            if (!idx.function_arns.insert(f.arn).second) {
              return fieldError(r.path("FunctionArn"), "function '" + f.arn + "' is listed twice");
            }
            const json* fc = nullptr;
            EVG_RETURN_IF_ERROR(r.object("FunctionConfiguration", &fc));
            if (fc != nullptr) {
              FunctionConfiguration c;
              EVG_RETURN_IF_ERROR(parseFunctionConfiguration(*fc, r.path("FunctionConfiguration"),
                                                             lim.max_resources_per_function, &c));
              f.configuration = std::move(c);
            }
            g.functions.push_back(std::move(f));
            return r.rejectUnknown();
          });
      !st) {
    return st;
  }

  // Resources.
  if (Status st = forEachElement(
          res, "Resources", lim.max_resources,
          [&](const json& e, const std::string& label, const std::string& id) {
            FieldReader r(e, label);
            r.find("Id");
            Resource rs;
            rs.id = id;
            EVG_RETURN_IF_ERROR(r.nonEmptyString("Name", &rs.name, true));
            const json* rdc = nullptr;
            EVG_RETURN_IF_ERROR(r.object("ResourceDataContainer", &rdc, true));
            EVG_RETURN_IF_ERROR(parseResourceData(*rdc, r.path("ResourceDataContainer"), &rs));
            g.resources.push_back(std::move(rs));
            return r.rejectUnknown();
          });
      !st) {
    return st;
  }
  // Resource references from functions.
  for (const Function& f : g.functions) {
    if (!f.configuration || !f.configuration->environment ||
        !f.configuration->environment->resource_access_policies) {
      continue;
    }
    const auto& pols = *f.configuration->environment->resource_access_policies;
    for (size_t i = 0; i < pols.size(); ++i) {
      if (g.findResource(pols[i].resource_id) == nullptr) {
        return fieldError("Functions[Id=" + f.id +
                              "].FunctionConfiguration.Environment.ResourceAccessPolicies[" +
                              std::to_string(i) + "].ResourceId",
                          "resource '" + pols[i].resource_id + "' is not in Resources");
      }
    }
  }

  // Loggers.
  if (Status st = forEachElement(
          log, "Loggers", SIZE_MAX,
          [&](const json& e, const std::string& label, const std::string& id) {
            FieldReader r(e, label);
            r.find("Id");
            LoggerConfig l;
            l.id = id;
            EVG_RETURN_IF_ERROR(
                r.enumString("Component", {"GreengrassSystem", "Lambda"}, &l.component, true));
            EVG_RETURN_IF_ERROR(
                r.enumString("Level", {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}, &l.level, true));
            EVG_RETURN_IF_ERROR(
                r.enumString("Type", {"FileSystem", "AWSCloudWatch"}, &l.type, true));
            EVG_RETURN_IF_ERROR(r.integer("Space", 1, INT32_MAX, &l.space_kb));
            g.loggers.push_back(std::move(l));
            return r.rejectUnknown();
          });
      !st) {
    return st;
  }

  // Connectors.
  if (Status st =
          forEachElement(con, "Connectors", SIZE_MAX,
                         [&](const json& e, const std::string& label, const std::string& id) {
                           FieldReader r(e, label);
                           r.find("Id");
                           Connector c;
                           c.id = id;
                           EVG_RETURN_IF_ERROR(r.string("ConnectorArn", &c.arn, true));
                           auto arn = parseConnectorArn(c.arn);
                           if (!arn)
                             return fieldError(r.path("ConnectorArn"), arn.status().message());
                           c.parsed = std::move(arn.value());
                           idx.connector_arns.insert(c.arn);
                           if (r.has("Parameters")) {
                             std::vector<std::pair<std::string, std::string>> params;
                             EVG_RETURN_IF_ERROR(r.stringMap("Parameters", &params));
                             c.parameters = std::move(params);
                           } else {
                             r.find("Parameters");
                           }
                           g.connectors.push_back(std::move(c));
                           return r.rejectUnknown();
                         });
      !st) {
    return st;
  }

  // Subscriptions.
  size_t from_cloud = 0;
  if (Status st = forEachElement(
          sub, "Subscriptions", lim.max_subscriptions,
          [&](const json& e, const std::string& label, const std::string& id) {
            FieldReader r(e, label);
            r.find("Id");
            Subscription s;
            s.id = id;
            EVG_RETURN_IF_ERROR(r.string("Source", &s.source, true));
            EVG_RETURN_IF_ERROR(r.string("Subject", &s.subject, true));
            EVG_RETURN_IF_ERROR(r.string("Target", &s.target, true));
            EVG_RETURN_IF_ERROR(r.rejectUnknown());
            EVG_RETURN_IF_ERROR(checkEndpoint(s.source, r.path("Source"), idx, &s.source_endpoint));
            EVG_RETURN_IF_ERROR(checkSubject(s.subject, r.path("Subject"), lim));
            EVG_RETURN_IF_ERROR(checkEndpoint(s.target, r.path("Target"), idx, &s.target_endpoint));
            if (s.source_endpoint.kind == Endpoint::Kind::kCloud) {
              if (s.target_endpoint.kind == Endpoint::Kind::kCloud) {
                return fieldError(r.path("Target"), "Source and Target are both 'cloud'");
              }
              if (++from_cloud > lim.max_cloud_source_subscriptions) {
                return fieldError(label, "more than " +
                                             std::to_string(lim.max_cloud_source_subscriptions) +
                                             " subscriptions with Source 'cloud'");
              }
            }
            g.subscriptions.push_back(std::move(s));
            return Status::ok();
          });
      !st) {
    return st;
  }
  return g;
}

Result<Group> loadGroupFile(const std::string& path, const GroupLimits& limits) {
  auto j = config::readJsonFile(path);
  if (!j) return j.status();
  auto g = parseGroup(*j, limits);
  if (!g) return Status(g.status().code(), path + ": " + g.status().message());
  return g;
}

const Thing* Group::findThingByName(std::string_view thing_name) const {
  for (auto* list : {&cores, &devices}) {
    for (const Thing& t : *list) {
      if (t.thing_name == thing_name) return &t;
    }
  }
  return nullptr;
}

const Thing* Group::findThingByFingerprint(std::string_view sha256_hex) const {
  if (sha256_hex.empty()) return nullptr;
  for (auto* list : {&cores, &devices}) {
    for (const Thing& t : *list) {
      if (t.cert_fingerprint_sha256 == sha256_hex) return &t;
    }
  }
  return nullptr;
}

const Function* Group::findFunction(std::string_view qualified_arn) const {
  for (const Function& f : functions) {
    if (f.arn == qualified_arn) return &f;
  }
  return nullptr;
}

const Resource* Group::findResource(std::string_view id) const {
  for (const Resource& r : resources) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace evg::group
