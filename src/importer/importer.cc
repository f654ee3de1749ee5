#include "importer/importer.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/json.h"
#include "certs/certs.h"
#include "config/arn.h"
#include "config/config.h"
#include "functions/function_store.h"
#include "group/group.h"
#include "importer/v1_group_reader.h"
#include "shadow/shadow_store.h"

namespace evg::importer {

namespace fs = std::filesystem;
using json = nlohmann::json;
using R = ImportItem::Result;

std::string_view resultName(R r) {
  switch (r) {
    case R::kImported:
      return "imported";
    case R::kUnchanged:
      return "unchanged";
    case R::kMapped:
      return "mapped";
    case R::kUnsupported:
      return "unsupported";
    case R::kSkipped:
      return "skipped";
    case R::kError:
      return "error";
  }
  return "?";
}

bool ImportReport::ok() const {
  return std::none_of(items.begin(), items.end(),
                      [](const ImportItem& i) { return i.result == R::kError; });
}

json ImportReport::toJson() const {
  json list = json::array();
  for (const auto& i : items) {
    list.push_back({{"kind", i.kind},
                    {"name", i.name},
                    {"result", std::string(resultName(i.result))},
                    {"detail", i.detail}});
  }
  return {{"from", from}, {"writeDirectory", write_dir},
          {"root", root}, {"dryRun", dry_run},
          {"ok", ok()},   {"items", list}};
}

std::string ImportReport::toText() const {
  std::ostringstream o;
  o << (dry_run ? "Dry run (nothing written): " : "") << "Greengrass v1 core " << from
    << " -> Evergreen root " << root << "\n";
  for (const auto& i : items) {
    o << "  [" << resultName(i.result) << "] " << i.kind << " " << i.name;
    if (!i.detail.empty()) o << ": " << i.detail;
    o << "\n";
  }
  size_t errors = std::count_if(items.begin(), items.end(),
                                [](const ImportItem& i) { return i.result == R::kError; });
  if (errors == 0) {
    o << "Everything needed to run was imported. Nothing under " << from
      << " was modified: to go back to v1, stop Evergreen and start greengrassd.\n";
  } else {
    o << errors << " item(s) could not be imported (marked [error]); fix them and run the "
      << "import again.\n";
  }
  return o.str();
}

namespace {

Result<std::string> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::notFound("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes atomically when the content differs. *changed tells whether it did (or would).
Status writeIfChanged(const std::string& path, const std::string& data, mode_t mode, bool dry_run,
                      bool* changed) {
  auto old = readAll(path);
  *changed = !old || *old != data;
  if (!*changed || dry_run) return Status::ok();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".import.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::io("cannot write " + tmp);
    out << data;
    if (!out.flush()) return Status::io("write failed: " + tmp);
  }
  ::chmod(tmp.c_str(), mode);
  fs::rename(tmp, path, ec);
  if (ec) return Status::io("rename " + tmp + ": " + ec.message());
  return Status::ok();
}

std::string fileUri(const std::string& p) { return "file://" + p; }

// Same relative paths, file contents and symlink targets.
bool sameTree(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (!fs::is_directory(b, ec)) return false;
  auto list = [](const std::string& d) {
    std::map<std::string, std::string> m;
    std::error_code e;
    for (auto it = fs::recursive_directory_iterator(d, e);
         !e && it != fs::recursive_directory_iterator(); it.increment(e)) {
      std::string rel = fs::relative(it->path(), d, e).string();
      if (it->is_symlink()) {
        m[rel] = "link:" + fs::read_symlink(it->path(), e).string();
      } else if (it->is_regular_file()) {
        auto data = readAll(it->path().string());
        m[rel] = data ? "file:" + *data : "unreadable";
      } else {
        m[rel] = "dir";
      }
    }
    return m;
  };
  return list(a) == list(b);
}

bool isDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string dotted(std::string s) {
  std::replace(s.begin(), s.end(), ':', '.');
  return s;
}

constexpr const char* kExecutableRuntime = "arn:aws:greengrass:::runtime/function/executable";

// What Evergreen does with each v1 system function (recognised by the name in its ARN).
struct SystemFunction {
  const char* name;
  R result;
  const char* detail;
};
constexpr SystemFunction kSystemFunctions[] = {
    {"GGCloudSpooler", R::kMapped,
     "Evergreen's cloud spooler (its GG_CONFIG_* variables are honoured)"},
    {"GGShadowSyncManager", R::kMapped,
     "Evergreen's shadow sync (SyncShadow of cores and devices)"},
    {"GGShadowService", R::kMapped, "Evergreen's local shadow service"},
    {"GGRouter", R::kMapped, "Evergreen's subscription router"},
    {"GGConnManager", R::kMapped, "Evergreen's embedded MQTT server"},
    {"GGSecretManager", R::kMapped,
     "Evergreen's secrets service (values re-provisioned with "
     "`evergreen secrets put`)"},
    {"GGTES", R::kMapped, "Evergreen's credential service"},
    {"GGDeviceCertificateManager", R::kMapped, "Evergreen's local certificate authority"},
    {"GGIPDetector", R::kMapped,
     "not needed after the v1 cloud: it published this core's addresses for discovery"},
    {"GGStreamManager", R::kMapped,
     "Evergreen's stream manager (its STREAM_MANAGER_* variables are honoured; JVM_ARGS is "
     "not used)"},
};

class Importer {
 public:
  explicit Importer(const ImportOptions& o) : o_(o) {
    rep_.from = o.from;
    rep_.root = o.target.root;
    rep_.dry_run = o.dry_run;
  }

  Result<ImportReport> run() {
    std::string cfg_path = o_.from + "/config/config.json";
    auto text = readAll(cfg_path);
    if (!text) return Status::notFound("no Greengrass v1 config.json at " + cfg_path);
    auto parsed = parseJson(*text);
    if (!parsed) return parsed.status().withContext(cfg_path + ": ");
    v1cfg_ = std::move(parsed).value();
    if (!v1cfg_.is_object()) return Status::invalid(cfg_path + ": not a JSON object");
    write_dir_ = o_.from + "/ggc";
    if (auto wd = v1cfg_.find("writeDirectory");
        wd != v1cfg_.end() && wd->is_string() && !wd->get<std::string>().empty()) {
      std::string w = wd->get<std::string>();
      write_dir_ = w[0] == '/' ? w : o_.from + "/" + w;
      // With a write directory, greengrass-root/ggc's writable parts live below it (§A.1).
      if (fs::exists(write_dir_ + "/ggc/deployment")) write_dir_ += "/ggc";
    }
    rep_.write_dir = write_dir_;
    importConfig();
    importGroup();
    importServerCertificate();
    importShadows();
    return rep_;
  }

 private:
  void add(std::string kind, std::string name, R r, std::string detail) {
    rep_.items.push_back({std::move(kind), std::move(name), r, std::move(detail)});
    if (o_.on_item) o_.on_item(rep_.items.back());
  }

  // ---- config.json and the thing's identity ----
  void importConfig() {
    auto parsed = config::parseConfig(v1cfg_, o_.from);
    if (!parsed) {
      add("config", "config.json", R::kError, parsed.status().message());
      return;
    }
    cfg_ = *parsed;
    have_cfg_ = true;
    const auto& c = cfg_.crypto;
    std::string certs = o_.target.certs_dir;
    struct Copy {
      const char* what;
      std::string from, to;
      mode_t mode;
    };
    std::vector<Copy> copies = {
        {"root CA", c.ca_path, certs + "/root.ca.pem", 0644},
        {"IoT certificate", c.core_cert_path, certs + "/core.cert.pem", 0644},
        {"IoT private key", c.core_key_path, certs + "/core.private.key", 0600}};
    bool identity_ok = true;
    for (const auto& cp : copies) {
      if (cp.from.empty()) {
        add("certificate", cp.what, R::kError, "not configured in config.json");
        identity_ok = false;
        continue;
      }
      auto data = readAll(cp.from);
      if (!data) {
        add("certificate", cp.what, R::kError, "cannot read " + cp.from);
        identity_ok = false;
        continue;
      }
      bool changed = false;
      Status st = writeIfChanged(cp.to, *data, cp.mode, o_.dry_run, &changed);
      if (!st) {
        add("certificate", cp.what, R::kError, st.message());
        identity_ok = false;
        continue;
      }
      add("certificate", cp.what, changed ? R::kImported : R::kUnchanged, cp.from + " -> " + cp.to);
    }
    if (identity_ok && !c.core_cert_path.empty()) {
      auto info = certs::certificateValidity(c.core_cert_path, c.core_key_path);
      if (!info) {
        add("certificate", "IoT certificate", R::kError, info.status().message());
      } else if (info->expired) {
        add("certificate", "IoT certificate", R::kError,
            "expired on " + info->not_after + ": AWS IoT refuses it");
      }
    }
    // The Evergreen config: v1's file with the key material at its new place. Everything else
    // (thing ARN, endpoints, ports, runtime settings) is kept as it was.
    json out = v1cfg_;
    out.erase("writeDirectory");
    out["coreThing"]["caPath"] = "root.ca.pem";
    out["coreThing"]["certPath"] = "core.cert.pem";
    out["coreThing"]["keyPath"] = "core.private.key";
    out["crypto"] = {
        {"caPath", fileUri(certs + "/root.ca.pem")},
        {"principals",
         {{"IoTCertificate",
           {{"certificatePath", fileUri(certs + "/core.cert.pem")},
            {"privateKeyPath", fileUri(certs + "/core.private.key")}}},
          {"SecretsManager", {{"privateKeyPath", fileUri(certs + "/core.private.key")}}}}}};
    // A re-import keeps the Evergreen settings added since.
    if (auto existing = readAll(o_.target.config_file); existing) {
      json e = parseJsonOrDiscarded(*existing);
      if (e.is_object() && e.contains("evergreen")) out["evergreen"] = e["evergreen"];
    }
    auto check = config::parseConfig(out, o_.target.root);
    if (!check) {
      add("config", "config.json", R::kError,
          "converted config invalid: " + check.status().message());
      return;
    }
    bool changed = false;
    Status st =
        writeIfChanged(o_.target.config_file, out.dump(2) + "\n", 0644, o_.dry_run, &changed);
    if (!st) {
      add("config", "config.json", R::kError, st.message());
      return;
    }
    std::string detail = "thing " + cfg_.core_thing.thing_name + " (" + cfg_.core_thing.region +
                         "), MQTT port " + std::to_string(cfg_.core_thing.gg_mqtt_port) +
                         ", IPC port " + std::to_string(cfg_.core_thing.gg_daemon_port);
    if (!cfg_.write_directory.empty() && v1cfg_.contains("writeDirectory")) {
      detail += "; writeDirectory " + write_dir_ + " read, state now kept under the root";
    }
    add("config", "config.json", changed ? R::kImported : R::kUnchanged, detail);
  }

  // ---- the group and what it names ----
  void importGroup() {
    std::string path =
        o_.group_file.empty() ? write_dir_ + "/deployment/group/group.json" : o_.group_file;
    auto text = readAll(path);
    if (!text) {
      add("group", path, o_.group_file.empty() ? R::kSkipped : R::kError,
          o_.group_file.empty() ? "no deployed group: the core starts with no group"
                                : "cannot read " + path);
      return;
    }
    auto text_json = parseJson(*text);
    if (!text_json) {
      add("group", path, R::kError, text_json.status().message());
      return;
    }
    json j = std::move(text_json).value();
    auto read = readV1Group(j);
    if (!read) {
      add("group", path, R::kError, read.status().message());
      return;
    }
    for (const auto& d : read->dropped)
      add("group-field", d.substr(0, d.find(':')), R::kSkipped, d.substr(d.find(':') + 2));
    for (const auto& n : read->notes) add("group", path, R::kImported, n);
    if (read->empty) {
      add("group", path, R::kSkipped, "empty group ({}): the core starts with no group");
      return;
    }
    json g = read->group;
    importFunctions(&g, read->lambda);
    importConnectors(g);
    size_t first_device = rep_.items.size();
    importDevices(g);
    size_t end_devices = rep_.items.size();
    importModels(g);
    auto parsed = group::parseGroup(g);
    if (!parsed) {
      add("group", path, R::kError,
          "the imported group is not valid: " + parsed.status().message());
      return;
    }
    bool changed = false;
    Status st = writeIfChanged(o_.target.group_file, g.dump(2) + "\n", 0644, o_.dry_run, &changed);
    if (!st) {
      add("group", path, R::kError, st.message());
      return;
    }
    // Devices live in the group file: unchanged with it.
    for (size_t i = first_device; !changed && i < end_devices; ++i) {
      if (rep_.items[i].result == R::kImported) rep_.items[i].result = R::kUnchanged;
    }
    add("group", path, changed ? R::kImported : R::kUnchanged,
        std::to_string(parsed->functions.size()) + " functions, " +
            std::to_string(parsed->subscriptions.size()) + " subscriptions, " +
            std::to_string(parsed->devices.size()) + " devices, " +
            std::to_string(parsed->resources.size()) + " resources -> " + o_.target.group_file);
  }

  // The code directory of a function: <write>/deployment/lambda/<versioned ARN> (":" or "."
  // spelling). For an alias, the one version directory of that function (highest if several).
  std::pair<std::string, std::string> findCode(const config::LambdaArn& a, const std::string& arn) {
    std::string dir = write_dir_ + "/deployment/lambda";
    std::error_code ec;
    if (isDigits(a.qualifier)) {
      for (const auto& cand : {dir + "/" + arn, dir + "/" + dotted(arn)}) {
        if (fs::is_directory(cand, ec)) return {cand, a.qualifier};
      }
      return {};
    }
    std::string prefix = "arn:" + a.partition + ":lambda:" + a.region + ":" + a.account +
                         ":function:" + a.name + ":";
    std::string best_dir;
    uint64_t best = 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string n = e.path().filename().string();
      for (const auto& p : {prefix, dotted(prefix)}) {
        if (n.rfind(p, 0) == 0 && isDigits(n.substr(p.size())) && n.size() - p.size() < 10) {
          uint64_t v = std::stoull(n.substr(p.size()));
          if (v > best) {
            best = v;
            best_dir = e.path().string();
          }
        }
      }
    }
    if (best_dir.empty()) return {};
    return {best_dir, std::to_string(best)};
  }

  void importFunctions(json* g, const std::map<std::string, LambdaSide>& lambda) {
    json* fdef =
        g->contains("FunctionDefinitionVersion") ? &(*g)["FunctionDefinitionVersion"] : nullptr;
    if (fdef == nullptr) return;
    json& list = (*fdef)["Functions"];
    functions::FunctionStoreOptions so;
    so.root_dir = o_.target.root;
    so.region = cfg_.core_thing.region;
    so.account = cfg_.core_thing.account;
    so.code_limits.max_unpacked_bytes =
        static_cast<uint64_t>(cfg_.evergreen.functions.max_unpacked_bytes);
    so.code_limits.max_entries = static_cast<uint64_t>(cfg_.evergreen.functions.max_entries);
    functions::FunctionStore store(so);
    for (auto& f : list) {
      std::string arn = f.value("FunctionArn", "");
      auto a = config::parseLambdaArn(arn, true);
      if (!a) {
        add("function", arn, R::kError, a.status().message());
        continue;
      }
      if (a->region.empty() && a->account.empty()) {
        importSystemFunction(*a, f);
        continue;
      }
      json fc = f.value("FunctionConfiguration", json::object());
      LambdaSide side;
      if (auto it = lambda.find(arn); it != lambda.end()) side = it->second;
      std::string runtime = side.runtime;
      if (auto it = o_.runtimes.find(a->name); it != o_.runtimes.end()) runtime = it->second;
      std::string executable = fc.value("Executable", "");
      if (runtime.empty() && !executable.empty()) runtime = kExecutableRuntime;
      if (runtime == "executable") runtime = kExecutableRuntime;
      std::string handler = side.handler;
      if (auto it = o_.handlers.find(a->name); it != o_.handlers.end()) handler = it->second;
      if (handler.empty() && runtime == kExecutableRuntime) handler = executable;
      std::string name = a->name + ":" + a->qualifier;
      if (runtime.empty()) {
        add("function", name, R::kError,
            "runtime unknown (group.json has no Runtime for it): give --runtime " + a->name +
                "=python3.7 (or nodejs12.x, java8, executable)");
        continue;
      }
      if (!functions::isKnownRuntime(runtime)) {
        add("function", name, R::kError, "unsupported runtime \"" + runtime + "\"");
        continue;
      }
      if (handler.empty()) {
        add("function", name, R::kError,
            "handler unknown (group.json has no Handler for it): give --handler " + a->name +
                "=module.function_handler");
        continue;
      }
      auto [code, version] = findCode(*a, arn);
      if (code.empty()) {
        add("function", name, R::kError,
            "no code under " + write_dir_ + "/deployment/lambda/ for " + arn);
        continue;
      }
      functions::FunctionConfig c;
      c.name = a->name;
      c.runtime = runtime;
      c.handler = handler;
      if (fc.contains("Timeout") && fc["Timeout"].is_number_unsigned()) {
        c.timeout_s = fc["Timeout"].get<uint32_t>();
      }
      if (fc.contains("MemorySize") && fc["MemorySize"].is_number_unsigned()) {
        c.memory_mb = std::max<uint32_t>(1, fc["MemorySize"].get<uint32_t>() / 1024);
      }
      std::string detail = runtime + ", handler " + handler + ", code " + code;
      if (o_.dry_run) {
        add("function", name, R::kImported, "version " + version + ": " + detail);
        continue;
      }
      bool changed = false;
      auto v = store.importVersion(c, a->region, a->account, version, code, &changed);
      if (!v) {
        add("function", name, R::kError, v.status().message());
        continue;
      }
      if (!isDigits(a->qualifier)) {
        auto al = store.updateAlias(a->name, a->qualifier, version);
        if (!al && al.status().code() == Code::kNotFound) {
          al = store.createAlias(a->name, a->qualifier, version);
          changed = true;
        }
        if (!al) {
          add("function", name, R::kError, "alias: " + al.status().message());
          continue;
        }
        detail += "; alias " + a->qualifier + " -> version " + version;
      }
      add("function", name, changed ? R::kImported : R::kUnchanged,
          "version " + version + ": " + detail);
    }
  }

  void importSystemFunction(const config::LambdaArn& a, const json& f) {
    for (const auto& s : kSystemFunctions) {
      if (a.name == s.name) {
        std::string detail = s.detail;
        if (a.name == "GGCloudSpooler" || a.name == "GGStreamManager") {
          json vars = f.value("FunctionConfiguration", json::object())
                          .value("Environment", json::object())
                          .value("Variables", json::object());
          if (!vars.empty()) detail += ": " + vars.dump();
        }
        add("system-function", a.name, s.result, detail);
        return;
      }
    }
    add("system-function", a.name, R::kUnsupported, "unknown v1 system function, not run");
  }

  void importConnectors(const json& g) {
    if (!g.contains("ConnectorDefinitionVersion")) return;
    for (const auto& c : g["ConnectorDefinitionVersion"].value("Connectors", json::array())) {
      std::string arn = c.value("ConnectorArn", "");
      auto p = config::parseConnectorArn(arn);
      add("connector", p ? p->name : arn, R::kUnsupported,
          "connectors are not supported by Evergreen; kept in the group (listed at deploy), "
          "messages routed to it are dropped and logged");
    }
  }

  void importDevices(const json& g) {
    if (!g.contains("DeviceDefinitionVersion")) return;
    for (const auto& d : g["DeviceDefinitionVersion"].value("Devices", json::array())) {
      std::string name = d.value("ThingArn", "");
      if (auto p = name.rfind('/'); p != std::string::npos) name = name.substr(p + 1);
      if (d.contains("CertificateFingerprintSha256")) {
        add("device", name, R::kImported, "certificate pinned by CertificateFingerprintSha256");
        continue;
      }
      std::string cert = d.value("CertificateArn", "");
      std::string id = cert.substr(cert.rfind('/') == std::string::npos ? 0 : cert.rfind('/') + 1);
      bool hex64 = id.size() == 64 && std::all_of(id.begin(), id.end(), [](char ch) {
                     return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
                   });
      if (hex64) {
        add("device", name, R::kImported,
            "keeps its AWS IoT certificate: pinned by the certificate id in CertificateArn");
      } else {
        add("device", name, R::kUnsupported,
            "CertificateArn \"" + cert +
                "\" holds no certificate id: the device cannot connect "
                "until CertificateFingerprintSha256 is added");
      }
    }
  }

  // Machine learning model resources from <write>/deployment/mlmodel/.
  void importModels(json& g) {
    if (!g.contains("ResourceDefinitionVersion")) return;
    std::string dir = write_dir_ + "/deployment/mlmodel";
    std::error_code ec;
    std::vector<std::string> unclaimed;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory()) unclaimed.push_back(e.path().filename().string());
    }
    std::vector<std::pair<std::string, std::string>> pending;  // id, name
    for (const auto& r : g["ResourceDefinitionVersion"].value("Resources", json::array())) {
      json c = r.value("ResourceDataContainer", json::object());
      if (!c.contains("S3MachineLearningModelResourceData") &&
          !c.contains("SageMakerMachineLearningModelResourceData")) {
        continue;
      }
      pending.emplace_back(r.value("Id", ""), r.value("Name", ""));
    }
    auto claim = [&](const std::string& n) {
      auto it = std::find(unclaimed.begin(), unclaimed.end(), n);
      if (it == unclaimed.end()) return false;
      unclaimed.erase(it);
      return true;
    };
    std::vector<std::pair<std::string, std::string>> matched, unmatched;
    for (const auto& [id, name] : pending) {
      if (claim(id)) {
        matched.emplace_back(id, id);
      } else if (!name.empty() && claim(name)) {
        matched.emplace_back(id, name);
      } else {
        unmatched.emplace_back(id, name);
      }
    }
    // One model left and one directory left (v1 names them by a UUID): they belong together.
    if (unmatched.size() == 1 && unclaimed.size() == 1) {
      matched.emplace_back(unmatched[0].first, unclaimed[0]);
      unmatched.clear();
    }
    for (const auto& [id, name] : unmatched) {
      add("resource", id, R::kError,
          "machine learning model not found under " + dir + " (expected a directory named " + id +
              (name.empty() ? "" : " or " + name) + ")");
    }
    for (const auto& [id, sub] : matched) {
      std::string src = dir + "/" + sub;
      std::string dst = o_.target.resources_dir + "/" + id;
      if (sameTree(src, dst)) {
        add("resource", id, R::kUnchanged, src + " -> " + dst);
        continue;
      }
      if (o_.dry_run) {
        add("resource", id, R::kImported, src + " -> " + dst);
        continue;
      }
      fs::remove_all(dst + ".tmp", ec);
      fs::create_directories(o_.target.resources_dir, ec);
      fs::copy(src, dst + ".tmp", fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               ec);
      if (!ec) {
        fs::remove_all(dst, ec);
        fs::rename(dst + ".tmp", dst, ec);
      }
      if (ec) {
        add("resource", id, R::kError, "copying " + src + ": " + ec.message());
        continue;
      }
      add("resource", id, R::kImported, src + " -> " + dst);
    }
  }

  // ---- the local MQTT server certificate ----
  void importServerCertificate() {
    std::string dir = write_dir_ + "/var/state/server";
    std::string cert = dir + "/server.crt";
    std::error_code ec;
    if (!fs::exists(cert, ec)) {
      add("server-certificate", cert, R::kSkipped,
          "none: devices must trust Evergreen's group CA (evergreen certs ca-bundle)");
      return;
    }
    std::string key = have_cfg_ ? cfg_.crypto.mqtt_server_key_path : "";
    if (key.empty()) {
      for (const char* n : {"server.key", "server.private.key", "server.key.pem"}) {
        if (fs::exists(dir + "/" + n, ec)) {
          key = dir + "/" + n;
          break;
        }
      }
    }
    if (key.empty()) {
      add("server-certificate", cert, R::kSkipped,
          "its private key was not found (MQTTServerCertificate.privateKeyPath or " + dir +
              "/server.key): devices must trust Evergreen's group CA");
      return;
    }
    auto info = certs::certificateValidity(cert, key);
    if (!info) {
      add("server-certificate", cert, R::kSkipped, info.status().message());
      return;
    }
    if (info->expired) {
      add("server-certificate", cert, R::kSkipped, "expired on " + info->not_after);
      return;
    }
    auto c = readAll(cert);
    auto k = readAll(key);
    bool ch1 = false, ch2 = false;
    Status st =
        c && k ? writeIfChanged(o_.target.certs_dir + "/v1-server.pem", *c, 0644, o_.dry_run, &ch1)
               : Status::io("cannot read " + cert + " or " + key);
    if (st) st = writeIfChanged(o_.target.certs_dir + "/v1-server.key", *k, 0600, o_.dry_run, &ch2);
    if (!st) {
      add("server-certificate", cert, R::kError, st.message());
      return;
    }
    add("server-certificate", cert, ch1 || ch2 ? R::kImported : R::kUnchanged,
        "served to devices until it expires on " + info->not_after +
            " (devices that trust the v1 group CA keep connecting until then)");
  }

  // ---- local shadows ----
  void importShadows() {
    std::string db = write_dir_ + "/var/state/shadow/shadow.db";
    std::error_code ec;
    if (!fs::exists(db, ec)) {
      add("shadows", db, R::kSkipped, "no local shadow database");
      return;
    }
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(("file:" + db + "?immutable=1").c_str(), &h,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
      add("shadows", db, R::kUnsupported, "cannot open: " + std::string(sqlite3_errmsg(h)));
      sqlite3_close(h);
      return;
    }
    // Find a table with a thing-name column and a document column (the v1 schema is not public).
    std::string table, thing_col, doc_col, ver_col, tables;
    std::vector<std::string> names;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT name FROM sqlite_master WHERE type='table'", -1, &s,
                           nullptr) == SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW) {
        names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
      }
    }
    sqlite3_finalize(s);
    auto lower = [](std::string v) {
      std::transform(v.begin(), v.end(), v.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      return v;
    };
    for (const auto& t : names) {
      tables += (tables.empty() ? "" : ", ") + t;
      std::string tc, dc, vc;
      if (sqlite3_prepare_v2(h, ("PRAGMA table_info(\"" + t + "\")").c_str(), -1, &s, nullptr) ==
          SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
          std::string col = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
          std::string lc = lower(col);
          if (tc.empty() &&
              (lc == "thingname" || lc == "thing_name" || lc == "thing" || lc == "name"))
            tc = col;
          if (dc.empty() && (lc == "document" || lc == "shadow" || lc == "state" || lc == "doc" ||
                             lc == "payload" || lc == "shadowdocument"))
            dc = col;
          if (vc.empty() && lc == "version") vc = col;
        }
      }
      sqlite3_finalize(s);
      if (!tc.empty() && !dc.empty()) {
        table = t;
        thing_col = tc;
        doc_col = dc;
        ver_col = vc;
        break;
      }
    }
    if (table.empty()) {
      sqlite3_close(h);
      add("shadows", db, R::kUnsupported,
          "schema not recognised (tables: " + (tables.empty() ? "none" : tables) +
              "); local shadows start empty and are re-synced from the cloud where SyncShadow is "
              "on");
      return;
    }
    std::vector<std::pair<std::string, shadow::StoredShadow>> rows;
    std::string q = "SELECT \"" + thing_col + "\", \"" + doc_col + "\"" +
                    (ver_col.empty() ? "" : ", \"" + ver_col + "\"") + " FROM \"" + table + "\"";
    if (sqlite3_prepare_v2(h, q.c_str(), -1, &s, nullptr) == SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char* t = sqlite3_column_text(s, 0);
        const void* d = sqlite3_column_blob(s, 1);
        if (t == nullptr || d == nullptr) continue;
        shadow::StoredShadow row;
        row.document.assign(static_cast<const char*>(d),
                            static_cast<size_t>(sqlite3_column_bytes(s, 1)));
        row.version = ver_col.empty() ? 1 : sqlite3_column_int64(s, 2);
        json doc = parseJsonOrDiscarded(row.document);
        if (doc.is_discarded() || !doc.is_object()) continue;
        rows.emplace_back(reinterpret_cast<const char*>(t), std::move(row));
      }
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    if (o_.dry_run) {
      add("shadows", db, R::kImported,
          std::to_string(rows.size()) + " shadow(s) from table " + table);
      return;
    }
    auto store = shadow::SqliteShadowStore::open(o_.target.shadow_db);
    if (!store) {
      add("shadows", db, R::kError, store.status().message());
      return;
    }
    size_t written = 0;
    for (const auto& [thing, row] : rows) {
      auto old = (*store)->load(thing);
      if (old && *old && (*old)->document == row.document) continue;
      Status st = (*store)->save(thing, row);
      if (!st) {
        add("shadows", thing, R::kError, st.message());
        continue;
      }
      ++written;
    }
    add("shadows", db, written > 0 ? R::kImported : R::kUnchanged,
        std::to_string(rows.size()) + " shadow(s) from table " + table + " -> " +
            o_.target.shadow_db);
  }

  const ImportOptions& o_;
  ImportReport rep_;
  json v1cfg_;
  std::string write_dir_;
  config::CoreConfig cfg_;
  bool have_cfg_ = false;
};

}  // namespace

Result<ImportReport> importV1(const ImportOptions& opts) { return Importer(opts).run(); }

}  // namespace evg::importer
