#include "functions/function_cli.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "base/json.h"
#include "config/config.h"
#include "functions/arn.h"
#include "functions/function_store.h"

namespace evg::functions {

namespace {

using json = nlohmann::json;

constexpr const char* kUsage =
    "usage: evergreen function <create|update-function-code|update-function-configuration|"
    "publish-version|create-alias|update-alias|list|list-versions|list-aliases|get|delete|"
    "delete-alias> --root DIR [options]";

// Options that take no value.
const std::set<std::string> kFlags = {"publish"};

struct Args {
  std::string command;
  std::map<std::string, std::string> opts;
};

Result<Args> parseArgs(int argc, char** argv) {
  Args a;
  int i = 0;
  if (i < argc && std::string(argv[i]) == "function") ++i;
  if (i >= argc) return Status::invalid("missing command");
  a.command = argv[i++];
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return Status::invalid("unexpected argument \"" + arg + "\"");
    std::string key = arg.substr(2);
    std::string value;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (kFlags.count(key) != 0) {
      value = "true";
    } else {
      if (i + 1 >= argc) return Status::invalid("option --" + key + " needs a value");
      value = argv[++i];
    }
    a.opts[key] = value;
  }
  return a;
}

// 'Variables={K=V,K2=V2}' (AWS CLI shorthand) or '{"Variables":{"K":"V"}}'.
Result<std::map<std::string, std::string>> parseEnvironment(const std::string& text) {
  std::map<std::string, std::string> env;
  auto bad = [&](const std::string& why) {
    return Status::invalid("bad --environment \"" + text + "\": " + why);
  };
  if (!text.empty() && text[0] == '{') {
    json j = parseJsonOrDiscarded(text);
    if (j.is_discarded() || !j.is_object()) return bad("not valid JSON");
    if (!j.contains("Variables") || !j["Variables"].is_object()) {
      return bad("expected {\"Variables\":{...}}");
    }
    for (auto& [k, v] : j["Variables"].items()) {
      if (!v.is_string()) return bad("value of " + k + " must be a string");
      env[k] = v.get<std::string>();
    }
    return env;
  }
  const std::string prefix = "Variables={";
  if (text.rfind(prefix, 0) != 0 || text.back() != '}') {
    return bad("expected Variables={KEY=VALUE,...} or JSON");
  }
  std::string body = text.substr(prefix.size(), text.size() - prefix.size() - 1);
  std::stringstream ss(body);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return bad("entry \"" + item + "\" is not KEY=VALUE");
    env[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return env;
}

// region/account from DIR/config/config.json coreThing.thingArn (arn:aws:iot:R:A:thing/N).
void regionFromConfig(const std::string& root, std::string* region, std::string* account) {
  std::ifstream in(root + "/config/config.json");
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  json j = parseJsonOrDiscarded(text.str());
  if (j.is_discarded() || !j.contains("coreThing")) return;
  std::string arn = j["coreThing"].value("thingArn", "");
  std::vector<std::string> parts;
  std::stringstream ss(arn);
  std::string p;
  while (std::getline(ss, p, ':')) parts.push_back(p);
  if (parts.size() >= 6 && parts[0] == "arn") {
    if (region->empty()) *region = parts[3];
    if (account->empty()) *account = parts[4];
  }
}

// The store's bounds from DIR/config/config.json (evergreen.functions); defaults without a file.
Status limitsFromConfig(const std::string& root, FunctionStoreOptions* so) {
  std::string path = root + "/config/config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::ok();
  auto cfg = config::loadConfigFile(path, root);
  if (!cfg) return cfg.status();
  const auto& f = cfg->evergreen.functions;
  so->max_zip_bytes = static_cast<uint64_t>(f.max_zip_bytes);
  so->code_limits.max_unpacked_bytes = static_cast<uint64_t>(f.max_unpacked_bytes);
  so->code_limits.max_entries = static_cast<uint64_t>(f.max_entries);
  return Status::ok();
}

json versionJson(const FunctionVersion& v) {
  json j{{"FunctionName", v.config.name},
         {"FunctionArn", v.arn},
         {"Runtime", v.config.runtime},
         {"Handler", v.config.handler},
         {"CodeSize", v.code_size},
         {"Description", v.config.description},
         {"Timeout", v.config.timeout_s},
         {"MemorySize", v.config.memory_mb},
         {"LastModified", v.last_modified},
         {"CodeSha256", v.code_sha256},
         {"Version", v.version}};
  if (!v.config.env.empty()) j["Environment"] = json{{"Variables", v.config.env}};
  return j;
}

json aliasJson(const FunctionAlias& a) {
  return json{{"AliasArn", a.arn},
              {"Name", a.name},
              {"FunctionVersion", a.function_version},
              {"Description", a.description}};
}

Result<uint32_t> parseUint(const std::string& key, const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) {
    return Status::invalid("--" + key + " must be a positive integer, got \"" + v + "\"");
  }
  return static_cast<uint32_t>(std::stoul(v));
}

const std::map<std::string, std::set<std::string>> kOptions = {
    {"create",
     {"function-name", "runtime", "handler", "description", "timeout", "memory-size", "environment",
      "zip-file", "code-dir"}},
    {"update-function-code", {"function-name", "zip-file", "code-dir", "publish"}},
    {"update-function-configuration",
     {"function-name", "runtime", "handler", "description", "timeout", "memory-size",
      "environment"}},
    {"publish-version", {"function-name", "description"}},
    {"create-alias", {"function-name", "name", "function-version", "description"}},
    {"update-alias", {"function-name", "name", "function-version"}},
    {"list", {}},
    {"list-versions", {"function-name"}},
    {"list-aliases", {"function-name"}},
    {"get", {"function-name", "qualifier"}},
    {"delete", {"function-name", "qualifier"}},
    {"delete-alias", {"function-name", "name"}},
};

// --runtime/--handler/--description/--timeout/--memory-size/--environment, when given.
Result<FunctionConfigUpdate> configOptions(const Args& a) {
  FunctionConfigUpdate u;
  auto get = [&](const char* k) -> const std::string* {
    auto it = a.opts.find(k);
    return it == a.opts.end() ? nullptr : &it->second;
  };
  if (auto* v = get("runtime")) u.runtime = *v;
  if (auto* v = get("handler")) u.handler = *v;
  if (auto* v = get("description")) u.description = *v;
  if (auto* v = get("timeout")) {
    auto t = parseUint("timeout", *v);
    if (!t) return t.status();
    u.timeout_s = *t;
  }
  if (auto* v = get("memory-size")) {
    auto t = parseUint("memory-size", *v);
    if (!t) return t.status();
    u.memory_mb = *t;
  }
  if (auto* v = get("environment")) {
    auto env = parseEnvironment(*v);
    if (!env) return env.status();
    u.env = std::move(*env);
  }
  return u;
}

// fileb://PATH (AWS CLI spelling) or PATH.
std::string zipPath(const std::string& v) { return v.rfind("fileb://", 0) == 0 ? v.substr(8) : v; }

int run(const Args& a, std::ostream& out, std::ostream& err) {
  auto opt = [&](const std::string& k) {
    auto it = a.opts.find(k);
    return it == a.opts.end() ? std::string() : it->second;
  };
  auto fail = [&](const Status& st) {
    err << "error: " << st.message() << "\n";
    return 1;
  };
  auto usage = [&](const std::string& why) {
    err << "error: " << why << "\n" << kUsage << "\n";
    return 2;
  };
  static const std::map<std::string, std::string> kAliases = {
      {"create-function", "create"},
      {"list-functions", "list"},
      {"list-versions-by-function", "list-versions"},
      {"get-function", "get"},
      {"delete-function", "delete"},
      {"delete-alias", "delete-alias"}};
  std::string cmd = a.command;
  if (auto it = kAliases.find(cmd); it != kAliases.end()) cmd = it->second;

  auto allowed = kOptions.find(cmd);
  if (allowed == kOptions.end()) return usage("unknown command \"" + a.command + "\"");
  for (const auto& [k, _] : a.opts) {
    if (k != "root" && k != "region" && k != "account" && allowed->second.count(k) == 0) {
      return usage("option --" + k + " is not valid for " + a.command);
    }
  }
  std::string root = opt("root");
  if (root.empty()) return usage("--root DIR is required");
  std::string name = opt("function-name");
  auto need = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys) {
      if (opt(k).empty()) return std::string("--") + k + " is required for " + a.command;
    }
    return {};
  };

  FunctionStoreOptions so;
  so.root_dir = root;
  so.region = opt("region");
  so.account = opt("account");
  regionFromConfig(root, &so.region, &so.account);
  if (Status st = limitsFromConfig(root, &so); !st) return usage(st.message());
  FunctionStore store(so);

  if (cmd == "create") {
    if (auto m = need({"function-name", "runtime", "handler"}); !m.empty()) return usage(m);
    auto cu = configOptions(a);
    if (!cu) return usage(cu.status().message());
    CreateFunctionRequest req;
    req.config.name = name;
    req.config.runtime = cu->runtime.value_or("");
    req.config.handler = cu->handler.value_or("");
    req.config.description = cu->description.value_or("");
    if (cu->timeout_s) req.config.timeout_s = *cu->timeout_s;
    if (cu->memory_mb) req.config.memory_mb = *cu->memory_mb;
    if (cu->env) req.config.env = std::move(*cu->env);
    req.zip_path = zipPath(opt("zip-file"));
    req.code_dir = opt("code-dir");
    if (req.zip_path.empty() == req.code_dir.empty()) {
      return usage("give exactly one of --zip-file or --code-dir");
    }
    if (so.region.empty() || so.account.empty()) {
      return usage("--region and --account are required (no coreThing.thingArn in " + root +
                   "/config/config.json)");
    }
    auto v = store.create(req);
    if (!v) return fail(v.status());
    out << versionJson(*v).dump(4) << "\n";
    return 0;
  }
  if (cmd == "update-function-code") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    std::string zip = zipPath(opt("zip-file"));
    std::string dir = opt("code-dir");
    if (zip.empty() == dir.empty()) return usage("give exactly one of --zip-file or --code-dir");
    if (!opt("publish").empty() && opt("publish") != "true") {
      return usage("--publish takes no value");
    }
    auto v = store.updateFunctionCode(name, zip, dir);
    if (!v) return fail(v.status());
    if (!opt("publish").empty()) v = store.publishVersion(name);
    if (!v) return fail(v.status());
    out << versionJson(*v).dump(4) << "\n";
    return 0;
  }
  if (cmd == "update-function-configuration") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    auto cu = configOptions(a);
    if (!cu) return usage(cu.status().message());
    if (cu->empty()) {
      return usage(
          "update-function-configuration needs at least one of --runtime, --handler, "
          "--description, --timeout, --memory-size, --environment");
    }
    auto v = store.updateFunctionConfiguration(name, *cu);
    if (!v) return fail(v.status());
    out << versionJson(*v).dump(4) << "\n";
    return 0;
  }
  if (cmd == "publish-version") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    auto v = store.publishVersion(name, opt("description"));
    if (!v) return fail(v.status());
    out << versionJson(*v).dump(4) << "\n";
    return 0;
  }
  if (cmd == "create-alias" || cmd == "update-alias") {
    if (auto m = need({"function-name", "name", "function-version"}); !m.empty()) return usage(m);
    auto r = cmd == "create-alias"
                 ? store.createAlias(name, opt("name"), opt("function-version"), opt("description"))
                 : store.updateAlias(name, opt("name"), opt("function-version"));
    if (!r) return fail(r.status());
    out << aliasJson(*r).dump(4) << "\n";
    return 0;
  }
  if (cmd == "list") {
    auto l = store.list();
    if (!l) return fail(l.status());
    json arr = json::array();
    for (auto& v : *l) arr.push_back(versionJson(v));
    out << json{{"Functions", arr}}.dump(4) << "\n";
    return 0;
  }
  if (cmd == "list-versions") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    auto l = store.listVersions(name);
    if (!l) return fail(l.status());
    json arr = json::array();
    for (auto& v : *l) arr.push_back(versionJson(v));
    out << json{{"Versions", arr}}.dump(4) << "\n";
    return 0;
  }
  if (cmd == "list-aliases") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    auto l = store.listAliases(name);
    if (!l) return fail(l.status());
    json arr = json::array();
    for (auto& v : *l) arr.push_back(aliasJson(v));
    out << json{{"Aliases", arr}}.dump(4) << "\n";
    return 0;
  }
  if (cmd == "get") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    auto v = store.get(name, opt("qualifier"));
    if (!v) return fail(v.status());
    out << json{{"Configuration", versionJson(*v)}, {"Code", {{"Location", v->code_dir}}}}.dump(4)
        << "\n";
    return 0;
  }
  if (cmd == "delete" || cmd == "delete-alias") {
    if (auto m = need({"function-name"}); !m.empty()) return usage(m);
    std::string q = cmd == "delete-alias" ? opt("name") : opt("qualifier");
    if (cmd == "delete-alias" && q.empty()) return usage("--name is required for delete-alias");
    Status st = store.remove(name, q);
    if (!st) return fail(st);
    return 0;
  }
  return usage("unknown command \"" + a.command + "\"");
}

}  // namespace

int runFunctionCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  auto a = parseArgs(argc, argv);
  if (!a) {
    err << "error: " << a.status().message() << "\n" << kUsage << "\n";
    return 2;
  }
  return run(*a, out, err);
}

}  // namespace evg::functions
