#include "importer/v1_group_reader.h"

#include <algorithm>
#include <cctype>

namespace evg::importer {

using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Schema of the API shape, written as JSON: null = a scalar kept as is, "*" = any value kept as
// is (string maps), an object = the allowed keys, [object] = a list of such objects.
const json& schemaFor(const std::string& list) {
  static const json kExecution = {{"IsolationMode", nullptr},
                                  {"RunAs", {{"Uid", nullptr}, {"Gid", nullptr}}}};
  static const json kGroupOwner = {{"AutoAddGroupOwner", nullptr}, {"GroupOwner", nullptr}};
  static const json kOwner = {{"GroupOwner", nullptr}, {"GroupPermission", nullptr}};
  static const json kThing = {{"Id", nullptr},
                              {"ThingArn", nullptr},
                              {"CertificateArn", nullptr},
                              {"SyncShadow", nullptr},
                              {"CertificateFingerprintSha256", nullptr}};
  static const json kFunction = {
      {"Id", nullptr},
      {"FunctionArn", nullptr},
      {"FunctionConfiguration",
       {{"EncodingType", nullptr},
        {"Environment",
         {{"Variables", "*"},
          {"AccessSysfs", nullptr},
          {"Execution", kExecution},
          {"ResourceAccessPolicies",
           json::array({{{"ResourceId", nullptr}, {"Permission", nullptr}}})}}},
        {"ExecArgs", nullptr},
        {"Executable", nullptr},
        {"MemorySize", nullptr},
        {"Pinned", nullptr},
        {"Timeout", nullptr},
        {"FunctionRuntimeOverride", nullptr}}}};
  static const json kSubscription = {
      {"Id", nullptr}, {"Source", nullptr}, {"Subject", nullptr}, {"Target", nullptr}};
  static const json kResource = {
      {"Id", nullptr},
      {"Name", nullptr},
      {"ResourceDataContainer",
       {{"LocalDeviceResourceData", {{"SourcePath", nullptr}, {"GroupOwnerSetting", kGroupOwner}}},
        {"LocalVolumeResourceData",
         {{"SourcePath", nullptr},
          {"DestinationPath", nullptr},
          {"GroupOwnerSetting", kGroupOwner}}},
        {"S3MachineLearningModelResourceData",
         {{"DestinationPath", nullptr}, {"S3Uri", nullptr}, {"OwnerSetting", kOwner}}},
        {"SageMakerMachineLearningModelResourceData",
         {{"DestinationPath", nullptr}, {"SageMakerJobArn", nullptr}, {"OwnerSetting", kOwner}}},
        {"SecretsManagerSecretResourceData",
         {{"ARN", nullptr}, {"AdditionalStagingLabelsToDownload", "*"}}}}}};
  static const json kLogger = {{"Id", nullptr},
                               {"Component", nullptr},
                               {"Level", nullptr},
                               {"Space", nullptr},
                               {"Type", nullptr}};
  static const json kConnector = {{"Id", nullptr}, {"ConnectorArn", nullptr}, {"Parameters", "*"}};
  static const json kNone = json::object();
  if (list == "Cores" || list == "Devices") return kThing;
  if (list == "Functions") return kFunction;
  if (list == "Subscriptions") return kSubscription;
  if (list == "Resources") return kResource;
  if (list == "Loggers") return kLogger;
  if (list == "Connectors") return kConnector;
  return kNone;
}

// Lambda-side keys v1 adds to function entries: captured, not reported as dropped.
bool isLambdaSideKey(const std::string& lk) {
  return lk == "handler" || lk == "runtime" || lk == "codesha256";
}

const json* findKey(const json& obj, const std::string& name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  if (it != obj.end()) return &*it;
  std::string ln = lower(name);
  for (auto i = obj.begin(); i != obj.end(); ++i) {
    if (lower(i.key()) == ln) return &i.value();
  }
  return nullptr;
}

// Copies the keys of `in` the schema allows (normalised to the schema's spelling); names the
// others in `dropped`. `lambda` collects Lambda-side fields when given.
json filter(const json& in, const json& schema, const std::string& where,
            std::vector<std::string>* dropped, LambdaSide* lambda) {
  if (schema.is_null() || (schema.is_string() && schema == "*")) return in;
  if (schema.is_array()) {
    if (!in.is_array()) return in;  // parseGroup names the type error
    json out = json::array();
    for (size_t i = 0; i < in.size(); ++i) {
      out.push_back(
          filter(in[i], schema[0], where + "[" + std::to_string(i) + "]", dropped, lambda));
    }
    return out;
  }
  if (!in.is_object()) return in;
  json out = json::object();
  for (auto it = in.begin(); it != in.end(); ++it) {
    std::string lk = lower(it.key());
    const json* sub = nullptr;
    std::string canonical;
    for (auto s = schema.begin(); s != schema.end(); ++s) {
      if (lower(s.key()) == lk) {
        sub = &s.value();
        canonical = s.key();
        break;
      }
    }
    if (sub != nullptr) {
      out[canonical] = filter(it.value(), *sub, where + "." + canonical, dropped, lambda);
      continue;
    }
    if (lambda != nullptr && isLambdaSideKey(lk) && it.value().is_string()) {
      std::string v = it.value().get<std::string>();
      if (lk == "handler") lambda->handler = v;
      if (lk == "runtime") lambda->runtime = v;
      if (lk == "codesha256") lambda->code_sha256 = v;
      continue;
    }
    dropped->push_back(where + "." + it.key() + ": not part of the Greengrass API shape");
  }
  return out;
}

struct Kind {
  const char* definition;  // "FunctionDefinitionVersion"
  const char* list;        // "Functions"
  const char* id_prefix;
};

constexpr Kind kKinds[] = {
    {"CoreDefinitionVersion", "Cores", "core"},
    {"DeviceDefinitionVersion", "Devices", "device"},
    {"FunctionDefinitionVersion", "Functions", "function"},
    {"SubscriptionDefinitionVersion", "Subscriptions", "subscription"},
    {"ResourceDefinitionVersion", "Resources", "resource"},
    {"LoggerDefinitionVersion", "Loggers", "logger"},
    {"ConnectorDefinitionVersion", "Connectors", "connector"},
};

bool hasAnyKnownKey(const json& j) {
  if (!j.is_object()) return false;
  for (const auto& k : kKinds) {
    if (findKey(j, k.definition) != nullptr || findKey(j, k.list) != nullptr) return true;
  }
  return false;
}

// A readable Id for entries that lack one (v1 API ids are [a-zA-Z0-9:_-]{1,128}).
std::string makeId(const json& entry, const Kind& k, size_t index) {
  std::string base;
  if (const json* arn = findKey(entry, "FunctionArn"); arn != nullptr && arn->is_string()) {
    std::string s = arn->get<std::string>();
    auto p = s.find(":function:");
    base = p == std::string::npos ? s : s.substr(p + 10);
  }
  std::string id;
  for (char c : base) {
    id.push_back(
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' ? c : '-');
  }
  if (id.empty() || id.size() > 128) id = std::string(k.id_prefix) + "-" + std::to_string(index);
  return id;
}

}  // namespace

Result<V1GroupRead> readV1Group(const json& in) {
  if (!in.is_object()) return Status::invalid("group file: expected a JSON object");
  V1GroupRead r;
  // One wrapper level is accepted ("GroupVersion", "Group", "Definition", ...).
  const json* root = &in;
  if (!hasAnyKnownKey(in)) {
    for (auto it = in.begin(); it != in.end(); ++it) {
      if (hasAnyKnownKey(it.value())) {
        root = &it.value();
        r.notes.push_back("definitions read from the \"" + it.key() + "\" object");
        break;
      }
    }
  }
  for (auto it = root->begin(); it != root->end(); ++it) {
    bool known = false;
    for (const auto& k : kKinds) {
      known |= lower(it.key()) == lower(k.definition) || lower(it.key()) == lower(k.list);
    }
    if (!known && root == &in) {
      r.dropped.push_back(it.key() + ": not a Greengrass group definition");
    }
  }
  for (const auto& k : kKinds) {
    const json* def = findKey(*root, k.definition);
    const json* list = nullptr;
    const json* default_config = nullptr;
    if (def != nullptr && def->is_object()) {
      const json* inner = findKey(*def, "Definition");
      const json* d = inner != nullptr ? inner : def;
      list = findKey(*d, k.list);
      default_config = findKey(*d, "DefaultConfig");
    } else {
      list = findKey(*root, k.list);
    }
    if (list == nullptr) continue;
    if (!list->is_array()) {
      return Status::invalid(std::string(k.list) + ": expected a list");
    }
    r.empty = false;
    json out = json::array();
    for (size_t i = 0; i < list->size(); ++i) {
      const json& e = (*list)[i];
      if (!e.is_object()) {
        return Status::invalid(std::string(k.list) + "[" + std::to_string(i) +
                               "]: expected an object");
      }
      std::string id;
      if (const json* idj = findKey(e, "Id"); idj != nullptr && idj->is_string()) {
        id = idj->get<std::string>();
      }
      std::string where =
          std::string(k.list) + (id.empty() ? "[" + std::to_string(i) + "]" : "[Id=" + id + "]");
      LambdaSide side;
      bool is_function = std::string(k.list) == "Functions";
      json f = filter(e, schemaFor(k.list), where, &r.dropped, is_function ? &side : nullptr);
      if (is_function) {
        // filter() also captured Handler/Runtime/CodeSha256 inside FunctionConfiguration.
        if (f.contains("FunctionArn") && f["FunctionArn"].is_string()) {
          r.lambda[f["FunctionArn"].get<std::string>()] = side;
        }
      }
      if (id.empty()) {
        id = makeId(e, k, i);
        f["Id"] = id;
        r.notes.push_back(std::string(k.list) + "[" + std::to_string(i) +
                          "]: no Id, imported as \"" + id + "\"");
      }
      out.push_back(std::move(f));
    }
    json d = {{k.list, std::move(out)}};
    if (default_config != nullptr) {
      d["DefaultConfig"] = filter(
          *default_config,
          json{{"Execution",
                schemaFor("Functions")["FunctionConfiguration"]["Environment"]["Execution"]}},
          std::string(k.list) + ".DefaultConfig", &r.dropped, nullptr);
    }
    r.group[k.definition] = std::move(d);
  }
  return r;
}

}  // namespace evg::importer
