#include "secrets/secrets_cli.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "config/config.h"
#include "secrets/secret_store.h"

namespace evg::secrets {

namespace {

constexpr int kOk = 0, kFail = 1, kInvalid = 2;

constexpr const char* kUsage =
    "usage: evergreen secrets put --root DIR --arn ARN (--string S | --file F) [--binary] "
    "[--stage LABEL]...\n"
    "       evergreen secrets list --root DIR\n";

}  // namespace

SecretPaths chooseSecretsKey(const std::string& store_path, const std::string& configured_key,
                             const std::string& generated_key) {
  SecretPaths p;
  p.store_path = store_path;
  p.key_path = generated_key;
  std::error_code ec;
  if (!configured_key.empty() && !std::filesystem::exists(generated_key, ec) &&
      std::filesystem::exists(configured_key, ec)) {
    p.key_path = configured_key;
    p.key_configured = true;
  }
  return p;
}

Result<SecretPaths> secretPathsForRoot(const std::string& root) {
  std::string configured;
  std::string cfg = root + "/config/config.json";
  if (std::filesystem::exists(cfg)) {
    auto c = config::loadConfigFile(cfg, root);
    if (!c) return c.status().withContext(cfg + ": ");
    configured = c->crypto.secrets_key_path;
  }
  return chooseSecretsKey(root + "/var/secrets/secrets.json", configured,
                          root + "/certs/secrets.key");
}

int runSecretsCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    err << kUsage;
    return kInvalid;
  }
  std::string sub = argv[1];
  std::string root, arn, str, file;
  bool has_string = false, binary = false;
  std::vector<std::string> stages;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--root" && value(&root)) continue;
    if (a == "--arn" && value(&arn)) continue;
    if (a == "--string" && value(&str)) {
      has_string = true;
      continue;
    }
    if (a == "--file" && value(&file)) continue;
    if (a == "--stage" && value(&v)) {
      stages.push_back(v);
      continue;
    }
    if (a == "--binary") {
      binary = true;
      continue;
    }
    err << "evergreen secrets: unexpected argument '" << a << "'\n" << kUsage;
    return kInvalid;
  }
  if (root.empty()) {
    err << "evergreen secrets: --root DIR is required\n" << kUsage;
    return kInvalid;
  }
  auto paths = secretPathsForRoot(root);
  if (!paths) {
    err << "evergreen secrets: " << paths.status().message() << "\n";
    return kInvalid;
  }
  SecretStoreOptions o;
  o.path = paths->store_path;
  o.key_path = paths->key_path;
  o.create_key = !paths->key_configured;
  if (sub == "list") {
    if (!std::filesystem::exists(o.path)) return kOk;
    auto s = SecretStore::open(o);
    if (!s) {
      err << "evergreen secrets: " << s.status().message() << "\n";
      return kFail;
    }
    for (const auto& a : (*s)->arns()) out << a << "\n";
    return kOk;
  }
  if (sub != "put") {
    err << "evergreen secrets: unknown sub-command '" << sub << "'\n" << kUsage;
    return kInvalid;
  }
  if (arn.empty() || has_string == !file.empty()) {
    err << "evergreen secrets put: --arn and exactly one of --string or --file are required\n"
        << kUsage;
    return kInvalid;
  }
  if (binary && has_string) {
    err << "evergreen secrets put: --binary goes with --file\n";
    return kInvalid;
  }
  std::string value = str;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << "evergreen secrets put: cannot read " << file << "\n";
      return kInvalid;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
  }
  auto s = SecretStore::open(o);
  if (!s) {
    err << "evergreen secrets: " << s.status().message() << "\n";
    return kFail;
  }
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto v = (*s)->put(arn, value, binary, stages, now_ms);
  if (!v) {
    err << "evergreen secrets put: " << v.status().message() << "\n";
    return v.status().code() == Code::kInvalid ? kInvalid : kFail;
  }
  out << "stored " << v->name << " version " << v->version_id << " stages";
  for (const auto& st : v->stages) out << " " << st;
  out << " (" << (binary ? "binary" : "string") << ", " << value.size() << " bytes, encrypted in "
      << o.path << ")\n";
  return kOk;
}

}  // namespace evg::secrets
