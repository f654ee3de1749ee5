#include "functions/function_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/log.h"
#include "functions/arn.h"

extern char** environ;

namespace evg::functions {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kMetaFile = "function.json";

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io("cannot read " + path + ": " + strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::io("cannot write " + tmp + ": " + strerror(errno));
    out << data;
    out.flush();
    if (!out) return Status::io("write failed: " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io("rename " + tmp + ": " + strerror(errno));
  }
  return Status::ok();
}

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

// SHA-256 over a file, or over a directory's sorted relative paths and contents.
Result<std::string> sha256Of(const std::string& path, uint64_t* size_out) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  uint64_t total = 0;
  auto feedFile = [&](const fs::path& p) -> Status {
    std::ifstream in(p, std::ios::binary);
    if (!in) return Status::io("cannot read " + p.string());
    char buf[65536];
    while (in) {
      in.read(buf, sizeof buf);
      auto n = static_cast<size_t>(in.gcount());
      EVP_DigestUpdate(ctx, buf, n);
      total += n;
    }
    return Status::ok();
  };
  Status st;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (auto& e : fs::recursive_directory_iterator(path, ec)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      std::string rel = fs::relative(f, path).string();
      EVP_DigestUpdate(ctx, rel.data(), rel.size() + 1);
      st = feedFile(f);
      if (!st) break;
    }
  } else {
    st = feedFile(path);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  if (!st) return st;
  *size_out = total;
  return base64(md, mdlen);
}

Status runQuiet(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status::io("cannot run " + argv[0] + ": " + strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::io("waitpid: " + std::string(strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::invalid(argv[0] + " failed (status " + std::to_string(WEXITSTATUS(status)) +
                           ")");
  }
  return Status::ok();
}

json configToJson(const FunctionConfig& c) {
  return json{{"Runtime", c.runtime},         {"Handler", c.handler},
              {"Description", c.description}, {"Timeout", c.timeout_s},
              {"MemorySize", c.memory_mb},    {"Environment", {{"Variables", c.env}}}};
}

FunctionConfig configFromJson(const std::string& name, const json& j) {
  FunctionConfig c;
  c.name = name;
  c.runtime = j.value("Runtime", "");
  c.handler = j.value("Handler", "");
  c.description = j.value("Description", "");
  c.timeout_s = j.value("Timeout", 3u);
  c.memory_mb = j.value("MemorySize", 16u);
  if (j.contains("Environment") && j["Environment"].contains("Variables")) {
    for (auto& [k, v] : j["Environment"]["Variables"].items()) {
      if (v.is_string()) c.env[k] = v.get<std::string>();
    }
  }
  return c;
}

std::string codeSubdir(const std::string& version) {
  return version == kLatest ? std::string("latest") : version;
}

}  // namespace

bool isKnownRuntime(std::string_view r) {
  if (r == "python2.7" || r == "java8" || r == "arn:aws:greengrass:::runtime/function/executable") {
    return true;
  }
  if (r.substr(0, 7) == "python3" && r.size() > 8 && r[7] == '.') return true;
  if (r.substr(0, 6) == "nodejs" && r.size() > 6) return true;
  // java8, java8.al2, java11, java17, ... (run on the installed JDK)
  if (r.substr(0, 4) == "java" && r.size() > 4 && std::isdigit(static_cast<unsigned char>(r[4]))) {
    return true;
  }
  return false;
}

Status extractZip(const std::string& zip_path, const std::string& dest) {
  std::error_code ec;
  if (!fs::is_regular_file(zip_path, ec)) {
    return Status::notFound("zip file not found: " + zip_path);
  }
  fs::create_directories(dest, ec);
  if (ec) return Status::io("cannot create " + dest + ": " + ec.message());
  if (::access("/usr/bin/unzip", X_OK) == 0) {
    return runQuiet({"/usr/bin/unzip", "-q", "-o", zip_path, "-d", dest})
        .withContext("extracting " + zip_path + ": ");
  }
  return runQuiet({"/usr/bin/python3", "-m", "zipfile", "-e", zip_path, dest})
      .withContext("extracting " + zip_path + ": ");
}

FunctionStore::FunctionStore(FunctionStoreOptions opts) : opts_(std::move(opts)) {}

std::string FunctionStore::functionDir(const std::string& name) const {
  return opts_.root_dir + "/functions/" + name;
}

namespace {

struct Meta {
  json j;
  std::string dir;
};

Result<Meta> loadMeta(const std::string& dir, const std::string& name) {
  if (!isValidFunctionName(name)) {
    return Status::invalid("invalid function name \"" + name + "\" (1-64 of A-Za-z0-9_-)");
  }
  std::error_code ec;
  if (!fs::exists(dir + "/" + kMetaFile, ec)) {
    return Status::notFound("function not found: " + name);
  }
  auto text = readFile(dir + "/" + kMetaFile);
  if (!text) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::corruption("function metadata unreadable: " + dir + "/" + kMetaFile);
  }
  return Meta{std::move(j), dir};
}

Status saveMeta(const Meta& m) { return writeFileAtomic(m.dir + "/" + kMetaFile, m.j.dump(2)); }

Result<FunctionVersion> versionOf(const Meta& m, const std::string& version) {
  const json& j = m.j;
  std::string name = j.value("FunctionName", "");
  const json* vj = nullptr;
  if (version == kLatest) {
    vj = &j["Latest"];
  } else if (j.contains("Versions") && j["Versions"].contains(version)) {
    vj = &j["Versions"][version];
  } else {
    return Status::notFound("function " + name + " has no version " + version);
  }
  FunctionVersion v;
  v.config = configFromJson(name, *vj);
  v.version = version;
  v.arn = buildFunctionArn(j.value("Region", ""), j.value("Account", ""), name, version);
  v.code_dir = m.dir + "/code/" + codeSubdir(version);
  v.code_sha256 = vj->value("CodeSha256", "");
  v.code_size = vj->value("CodeSize", uint64_t{0});
  v.last_modified = vj->value("LastModified", "");
  return v;
}

FunctionAlias aliasOf(const json& j, const std::string& alias) {
  FunctionAlias a;
  a.name = alias;
  a.function_version = j["Aliases"][alias].value("FunctionVersion", "");
  a.description = j["Aliases"][alias].value("Description", "");
  a.arn = buildFunctionArn(j.value("Region", ""), j.value("Account", ""),
                           j.value("FunctionName", ""), alias);
  return a;
}

}  // namespace

Result<FunctionVersion> FunctionStore::create(const CreateFunctionRequest& req) {
  const FunctionConfig& c = req.config;
  if (!isValidFunctionName(c.name)) {
    return Status::invalid("invalid function name \"" + c.name + "\" (1-64 of A-Za-z0-9_-)");
  }
  if (!isKnownRuntime(c.runtime)) {
    return Status::invalid("unsupported runtime \"" + c.runtime +
                           "\" (python2.7, python3.x, nodejs*, java8/java11/java17, "
                           "arn:aws:greengrass:::runtime/function/executable)");
  }
  if (c.handler.empty()) return Status::invalid("handler is required");
  if (c.timeout_s == 0) return Status::invalid("timeout must be at least 1 second");
  if (req.zip_path.empty() == req.code_dir.empty()) {
    return Status::invalid("give exactly one of a zip file or a code directory");
  }
  if (opts_.region.empty() && opts_.account.empty()) {
    return Status::invalid("region and account are required to build function ARNs");
  }
  std::string dir = functionDir(c.name);
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::conflict("function already exists: " + c.name);
  std::string tmp_code = dir + "/code/latest.tmp";
  fs::create_directories(dir + "/code", ec);
  if (ec) return Status::io("cannot create " + dir + ": " + ec.message());
  auto fail = [&](Status st) {
    fs::remove_all(dir, ec);
    return st;
  };
  std::string hashed;
  if (!req.zip_path.empty()) {
    uintmax_t sz = fs::file_size(req.zip_path, ec);
    if (ec) return fail(Status::notFound("zip file not found: " + req.zip_path));
    if (sz > opts_.max_code_bytes) {
      return fail(Status::tooLarge("zip file " + req.zip_path + " is " + std::to_string(sz) +
                                   " bytes, over the limit of " +
                                   std::to_string(opts_.max_code_bytes)));
    }
    Status st = extractZip(req.zip_path, tmp_code);
    if (!st) return fail(st);
    hashed = req.zip_path;
  } else {
    if (!fs::is_directory(req.code_dir, ec)) {
      return fail(Status::notFound("code directory not found: " + req.code_dir));
    }
    fs::copy(req.code_dir, tmp_code, fs::copy_options::recursive, ec);
    if (ec) return fail(Status::io("copying " + req.code_dir + ": " + ec.message()));
    hashed = tmp_code;
  }
  uint64_t size = 0;
  auto sha = sha256Of(hashed, &size);
  if (!sha) return fail(sha.status());
  fs::rename(tmp_code, dir + "/code/latest", ec);
  if (ec) return fail(Status::io("rename code dir: " + ec.message()));
  json latest = configToJson(c);
  latest["CodeSha256"] = *sha;
  latest["CodeSize"] = size;
  latest["LastModified"] = isoTimestampNow();
  Meta m{json{{"FunctionName", c.name},
              {"Region", opts_.region},
              {"Account", opts_.account},
              {"Latest", latest},
              {"Versions", json::object()},
              {"Aliases", json::object()},
              {"NextVersion", 1}},
         dir};
  Status st = saveMeta(m);
  if (!st) return fail(st);
  return versionOf(m, std::string(kLatest));
}

Result<FunctionVersion> FunctionStore::publishVersion(const std::string& name,
                                                      const std::string& description) {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  uint64_t n = m->j.value("NextVersion", uint64_t{1});
  std::string ver = std::to_string(n);
  std::string dest = m->dir + "/code/" + ver;
  std::error_code ec;
  fs::remove_all(dest + ".tmp", ec);
  fs::copy(m->dir + "/code/latest", dest + ".tmp", fs::copy_options::recursive, ec);
  if (ec) return Status::io("copying code for version " + ver + ": " + ec.message());
  fs::remove_all(dest, ec);
  fs::rename(dest + ".tmp", dest, ec);
  if (ec) return Status::io("rename " + dest + ": " + ec.message());
  json v = m->j["Latest"];
  if (!description.empty()) v["Description"] = description;
  v["LastModified"] = isoTimestampNow();
  m->j["Versions"][ver] = v;
  m->j["NextVersion"] = n + 1;
  EVG_RETURN_IF_ERROR(saveMeta(*m));
  return versionOf(*m, ver);
}

Result<FunctionAlias> FunctionStore::createAlias(const std::string& name, const std::string& alias,
                                                 const std::string& version,
                                                 const std::string& description) {
  if (!isValidAliasName(alias)) {
    return Status::invalid("invalid alias name \"" + alias +
                           "\" (A-Za-z0-9_-, not only digits, not $LATEST)");
  }
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  if (m->j["Aliases"].contains(alias)) {
    return Status::conflict("alias " + alias + " already exists for function " + name);
  }
  if (version == kLatest) {
    return Status::invalid("alias " + alias +
                           " cannot point at $LATEST: Greengrass deploys only published versions");
  }
  if (!m->j["Versions"].contains(version)) {
    return Status::notFound("function " + name + " has no version " + version);
  }
  m->j["Aliases"][alias] = json{{"FunctionVersion", version}, {"Description", description}};
  EVG_RETURN_IF_ERROR(saveMeta(*m));
  return aliasOf(m->j, alias);
}

Result<FunctionAlias> FunctionStore::updateAlias(const std::string& name, const std::string& alias,
                                                 const std::string& version) {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  if (!m->j["Aliases"].contains(alias)) {
    return Status::notFound("function " + name + " has no alias " + alias);
  }
  if (!m->j["Versions"].contains(version)) {
    return Status::notFound("function " + name + " has no version " + version);
  }
  m->j["Aliases"][alias]["FunctionVersion"] = version;
  EVG_RETURN_IF_ERROR(saveMeta(*m));
  return aliasOf(m->j, alias);
}

Result<std::vector<FunctionVersion>> FunctionStore::list() const {
  std::vector<FunctionVersion> out;
  std::error_code ec;
  std::string base = opts_.root_dir + "/functions";
  if (!fs::is_directory(base, ec)) return out;
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(base, ec)) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (auto& n : names) {
    auto m = loadMeta(functionDir(n), n);
    if (!m) continue;  // half-created or foreign directory
    auto v = versionOf(*m, std::string(kLatest));
    if (v) out.push_back(std::move(*v));
  }
  return out;
}

Result<std::vector<FunctionVersion>> FunctionStore::listVersions(const std::string& name) const {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  std::vector<FunctionVersion> out;
  auto latest = versionOf(*m, std::string(kLatest));
  if (latest) out.push_back(std::move(*latest));
  std::vector<uint64_t> nums;
  for (auto& [k, _] : m->j["Versions"].items()) nums.push_back(std::stoull(k));
  std::sort(nums.begin(), nums.end());
  for (uint64_t n : nums) {
    auto v = versionOf(*m, std::to_string(n));
    if (v) out.push_back(std::move(*v));
  }
  return out;
}

Result<std::vector<FunctionAlias>> FunctionStore::listAliases(const std::string& name) const {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  std::vector<FunctionAlias> out;
  for (auto& [k, _] : m->j["Aliases"].items()) out.push_back(aliasOf(m->j, k));
  return out;
}

Result<FunctionVersion> FunctionStore::get(const std::string& name,
                                           const std::string& qualifier) const {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  std::string q = qualifier.empty() ? std::string(kLatest) : qualifier;
  if (q != kLatest && !isVersionNumber(q)) {
    if (!m->j["Aliases"].contains(q)) {
      return Status::notFound("function " + name + " has no alias " + q);
    }
    q = m->j["Aliases"][q].value("FunctionVersion", "");
  }
  return versionOf(*m, q);
}

Status FunctionStore::remove(const std::string& name, const std::string& qualifier) {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  std::error_code ec;
  if (qualifier.empty()) {
    fs::remove_all(m->dir, ec);
    if (ec) return Status::io("removing " + m->dir + ": " + ec.message());
    return Status::ok();
  }
  if (qualifier == kLatest) {
    return Status::invalid("cannot delete $LATEST of " + name +
                           " alone; delete the function without a qualifier");
  }
  if (isVersionNumber(qualifier)) {
    if (!m->j["Versions"].contains(qualifier)) {
      return Status::notFound("function " + name + " has no version " + qualifier);
    }
    for (auto& [alias, a] : m->j["Aliases"].items()) {
      if (a.value("FunctionVersion", "") == qualifier) {
        return Status::conflict("version " + qualifier + " of " + name + " is used by alias " +
                                alias);
      }
    }
    m->j["Versions"].erase(qualifier);
    EVG_RETURN_IF_ERROR(saveMeta(*m));
    fs::remove_all(m->dir + "/code/" + qualifier, ec);
    return Status::ok();
  }
  if (!m->j["Aliases"].contains(qualifier)) {
    return Status::notFound("function " + name + " has no alias " + qualifier);
  }
  m->j["Aliases"].erase(qualifier);
  return saveMeta(*m);
}

Result<ResolvedFunction> FunctionStore::resolve(const std::string& arn) const {
  auto parsed = parseFunctionArn(arn);
  if (!parsed) return parsed.status();
  if (parsed->qualifier.empty()) {
    return Status::invalid("function ARN " + arn +
                           " has no qualifier: Greengrass deploys a version or an alias");
  }
  if (parsed->qualifier == kLatest) {
    return Status::invalid("function ARN " + arn +
                           " uses $LATEST, which Greengrass does not deploy: publish a version or "
                           "use an alias");
  }
  auto m = loadMeta(functionDir(parsed->name), parsed->name);
  if (!m) return m.status().withContext("resolving " + arn + ": ");
  if (parsed->region != m->j.value("Region", "") || parsed->account != m->j.value("Account", "")) {
    return Status::notFound("resolving " + arn + ": function " + parsed->name +
                            " is stored for region/account " + m->j.value("Region", "") + "/" +
                            m->j.value("Account", ""));
  }
  ResolvedFunction r;
  r.requested_arn = arn;
  std::string version = parsed->qualifier;
  if (!isVersionNumber(version)) {
    if (!m->j["Aliases"].contains(version)) {
      return Status::notFound("resolving " + arn + ": function " + parsed->name + " has no alias " +
                              version);
    }
    r.alias = version;
    version = m->j["Aliases"][version].value("FunctionVersion", "");
  }
  auto v = versionOf(*m, version);
  if (!v) return v.status().withContext("resolving " + arn + ": ");
  r.version = std::move(*v);
  return r;
}

}  // namespace evg::functions
