#include "functions/function_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json.h"
#include "base/log.h"
#include "functions/arn.h"

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

// function.json is written 0600: it holds environment variables, and only the core (or the
// CLI user) reads it; the code directories are what RunAs identities need (0755/0644).
Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("cannot write " + tmp + ": " + strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      std::string e = strerror(errno);
      ::close(fd);
      return Status::io("write failed: " + tmp + ": " + e);
    }
    off += static_cast<size_t>(w);
  }
  if (::fchmod(fd, 0600) != 0 || ::close(fd) != 0) {
    return Status::io("write failed: " + tmp + ": " + strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io("rename " + tmp + ": " + strerror(errno));
  }
  return Status::ok();
}

// mkdir + chmod 0755 (umask-proof) for each missing component of `path` below `base`.
Status makeDirs0755(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> missing;
  for (fs::path p = path; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::io("cannot create " + it->string() + ": " + strerror(errno));
    }
    if (::chmod(it->c_str(), 0755) != 0) {
      return Status::io("chmod " + it->string() + ": " + strerror(errno));
    }
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
  json j = parseJsonOrDiscarded(*text);
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

namespace {

Status validateConfig(const FunctionConfig& c) {
  if (!isKnownRuntime(c.runtime)) {
    return Status::invalid("unsupported runtime \"" + c.runtime +
                           "\" (python2.7, python3.x, nodejs*, java8/java11/java17, "
                           "arn:aws:greengrass:::runtime/function/executable)");
  }
  if (c.handler.empty()) return Status::invalid("handler is required");
  if (c.timeout_s == 0) return Status::invalid("timeout must be at least 1 second");
  return Status::ok();
}

// The part of a $LATEST or version snapshot that publishVersion compares (Lambda: code hash and
// configuration). Versions record $LATEST's description as SourceDescription, since their own
// Description may come from publish-version --description.
json publishKey(const json& v, bool is_version) {
  json k = json::object();
  for (const char* f :
       {"Runtime", "Handler", "Timeout", "MemorySize", "Environment", "CodeSha256"}) {
    k[f] = v.contains(f) ? v[f] : json();
  }
  k["Description"] = is_version ? v.value("SourceDescription", v.value("Description", ""))
                                : v.value("Description", "");
  return k;
}

// Swaps two directories atomically (renameat2 RENAME_EXCHANGE; two renames where the file system
// cannot exchange).
Status exchangeDirs(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
    return Status::ok();
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return Status::io("exchange " + a + " and " + b + ": " + strerror(errno));
  }
  std::string parked = a + ".swap";
  std::error_code ec;
  fs::remove_all(parked, ec);
  if (::rename(a.c_str(), parked.c_str()) != 0 || ::rename(b.c_str(), a.c_str()) != 0 ||
      ::rename(parked.c_str(), b.c_str()) != 0) {
    return Status::io("swap " + a + " and " + b + ": " + strerror(errno));
  }
  return Status::ok();
}

}  // namespace

Status FunctionStore::stageCode(const std::string& zip_path, const std::string& code_dir,
                                const std::string& dest, std::string* sha256,
                                uint64_t* size) const {
  if (zip_path.empty() == code_dir.empty()) {
    return Status::invalid("give exactly one of a zip file or a code directory");
  }
  std::error_code ec;
  fs::remove_all(dest, ec);  // a leftover of an interrupted call
  if (!zip_path.empty()) {
    uintmax_t sz = fs::file_size(zip_path, ec);
    if (ec) return Status::notFound("zip file not found: " + zip_path);
    if (sz > opts_.max_zip_bytes) {
      return Status::tooLarge("zip file " + zip_path + " is " + std::to_string(sz) +
                              " bytes, over the limit of " + std::to_string(opts_.max_zip_bytes) +
                              " (evergreen.functions.maxZipBytes)");
    }
    EVG_RETURN_IF_ERROR(unpackZip(zip_path, dest, opts_.code_limits));
    auto sha = fileSha256(zip_path, size);  // Lambda's CodeSha256: the package's bytes
    if (!sha) return sha.status();
    *sha256 = std::move(*sha);
    return Status::ok();
  }
  EVG_RETURN_IF_ERROR(copyCodeTree(code_dir, dest, opts_.code_limits));
  auto sha = treeSha256(dest, size);
  if (!sha) return sha.status();
  *sha256 = std::move(*sha);
  return Status::ok();
}

Result<FunctionVersion> FunctionStore::create(const CreateFunctionRequest& req) {
  const FunctionConfig& c = req.config;
  if (!isValidFunctionName(c.name)) {
    return Status::invalid("invalid function name \"" + c.name + "\" (1-64 of A-Za-z0-9_-)");
  }
  EVG_RETURN_IF_ERROR(validateConfig(c));
  if (req.zip_path.empty() == req.code_dir.empty()) {
    return Status::invalid("give exactly one of a zip file or a code directory");
  }
  if (opts_.region.empty() && opts_.account.empty()) {
    return Status::invalid("region and account are required to build function ARNs");
  }
  std::string dir = functionDir(c.name);
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::conflict("function already exists: " + c.name);
  EVG_RETURN_IF_ERROR(makeDirs0755(dir + "/code"));
  auto fail = [&](Status st) {
    fs::remove_all(dir, ec);
    return st;
  };
  std::string tmp_code = dir + "/code/latest.tmp";
  std::string sha;
  uint64_t size = 0;
  Status st = stageCode(req.zip_path, req.code_dir, tmp_code, &sha, &size);
  if (!st) return fail(st);
  fs::rename(tmp_code, dir + "/code/latest", ec);
  if (ec) return fail(Status::io("rename code dir: " + ec.message()));
  json latest = configToJson(c);
  latest["CodeSha256"] = sha;
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
  st = saveMeta(m);
  if (!st) return fail(st);
  return versionOf(m, std::string(kLatest));
}

Result<FunctionVersion> FunctionStore::updateFunctionCode(const std::string& name,
                                                          const std::string& zip_path,
                                                          const std::string& code_dir) {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  std::string latest = m->dir + "/code/latest";
  std::string staged = m->dir + "/code/latest.new";
  std::string sha;
  uint64_t size = 0;
  std::error_code ec;
  Status st = stageCode(zip_path, code_dir, staged, &sha, &size);
  if (!st) {
    fs::remove_all(staged, ec);
    return st.withContext("updating the code of " + name + ": ");
  }
  // staged <-> latest; then the metadata; the old code (now in `staged`) goes last.
  st = exchangeDirs(staged, latest);
  if (!st) {
    fs::remove_all(staged, ec);
    return st;
  }
  json& l = m->j["Latest"];
  l["CodeSha256"] = sha;
  l["CodeSize"] = size;
  l["LastModified"] = isoTimestampNow();
  st = saveMeta(*m);
  if (!st) {
    (void)exchangeDirs(staged, latest);  // back to the code the metadata describes
    fs::remove_all(staged, ec);
    return st;
  }
  fs::remove_all(staged, ec);
  return versionOf(*m, std::string(kLatest));
}

Result<FunctionVersion> FunctionStore::updateFunctionConfiguration(const std::string& name,
                                                                   const FunctionConfigUpdate& u) {
  if (u.empty()) return Status::invalid("nothing to update for " + name);
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  json& l = m->j["Latest"];
  FunctionConfig c = configFromJson(name, l);
  if (u.runtime) c.runtime = *u.runtime;
  if (u.handler) c.handler = *u.handler;
  if (u.description) c.description = *u.description;
  if (u.env) c.env = *u.env;
  if (u.timeout_s) c.timeout_s = *u.timeout_s;
  if (u.memory_mb) c.memory_mb = *u.memory_mb;
  EVG_RETURN_IF_ERROR(validateConfig(c));
  l.update(configToJson(c));
  l["LastModified"] = isoTimestampNow();
  EVG_RETURN_IF_ERROR(saveMeta(*m));
  return versionOf(*m, std::string(kLatest));
}

Result<FunctionVersion> FunctionStore::publishVersion(const std::string& name,
                                                      const std::string& description) {
  auto m = loadMeta(functionDir(name), name);
  if (!m) return m.status();
  const json& latest = m->j["Latest"];
  uint64_t newest = 0;
  for (auto& [k, _] : m->j["Versions"].items()) {
    if (isVersionNumber(k)) newest = std::max<uint64_t>(newest, std::stoull(k));
  }
  if (newest != 0) {
    std::string last = std::to_string(newest);
    if (publishKey(latest, false) == publishKey(m->j["Versions"][last], true)) {
      return versionOf(*m, last);  // unchanged since the newest version: Lambda makes none
    }
  }
  uint64_t n = m->j.value("NextVersion", uint64_t{1});
  std::string ver = std::to_string(n);
  std::string dest = m->dir + "/code/" + ver;
  std::error_code ec;
  fs::remove_all(dest + ".tmp", ec);
  // The stored tree was checked when it was unpacked; copy it under the same rules (links are
  // copied as links, never followed) without the size bounds, which may have been lowered since.
  CodeLimits unbounded{UINT64_MAX, UINT64_MAX};
  Status st = copyCodeTree(m->dir + "/code/latest", dest + ".tmp", unbounded);
  if (!st) return st.withContext("copying code for version " + ver + ": ");
  fs::remove_all(dest, ec);
  fs::rename(dest + ".tmp", dest, ec);
  if (ec) return Status::io("rename " + dest + ": " + ec.message());
  json v = latest;
  v["SourceDescription"] = latest.value("Description", "");
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

std::vector<std::string> FunctionStore::functionNames() const {
  std::vector<std::string> names;
  std::error_code ec;
  std::string base = opts_.root_dir + "/functions";
  if (!fs::is_directory(base, ec)) return names;
  for (auto& e : fs::directory_iterator(base, ec)) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<FunctionVersion>> FunctionStore::list() const {
  std::vector<FunctionVersion> out;
  for (auto& n : functionNames()) {
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

Result<std::vector<std::string>> FunctionStore::pruneVersions(size_t keep,
                                                              const std::set<std::string>& in_use) {
  std::vector<std::string> removed;
  if (keep == 0) return removed;
  for (const auto& name : functionNames()) {
    auto m = loadMeta(functionDir(name), name);
    if (!m) continue;  // half-created or foreign directory
    std::vector<uint64_t> nums;
    for (auto& [v, _] : m->j["Versions"].items()) {
      if (isVersionNumber(v)) nums.push_back(std::stoull(v));
    }
    std::sort(nums.rbegin(), nums.rend());
    std::set<std::string> aliased;
    for (auto& [alias, a] : m->j["Aliases"].items()) aliased.insert(a.value("FunctionVersion", ""));
    for (size_t i = keep; i < nums.size(); ++i) {
      std::string v = std::to_string(nums[i]);
      if (aliased.count(v) || in_use.count(name + ":" + v)) continue;
      Status s = remove(name, v);
      if (s) removed.push_back(name + ":" + v);
    }
  }
  return removed;
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

Result<FunctionVersion> FunctionStore::importVersion(const FunctionConfig& c,
                                                     const std::string& region,
                                                     const std::string& account,
                                                     const std::string& version,
                                                     const std::string& code_dir, bool* changed) {
  return importImpl(c, region, account, version, {}, code_dir, changed);
}

Result<FunctionVersion> FunctionStore::importZipVersion(
    const FunctionConfig& c, const std::string& region, const std::string& account,
    const std::string& version, const std::string& zip_path, bool* changed) {
  return importImpl(c, region, account, version, zip_path, {}, changed);
}

Result<FunctionVersion> FunctionStore::importImpl(const FunctionConfig& c,
                                                  const std::string& region,
                                                  const std::string& account,
                                                  const std::string& version,
                                                  const std::string& zip_path,
                                                  const std::string& code_dir, bool* changed) {
  *changed = false;
  if (!isValidFunctionName(c.name)) {
    return Status::invalid("invalid function name \"" + c.name + "\" (1-64 of A-Za-z0-9_-)");
  }
  if (!isKnownRuntime(c.runtime))
    return Status::invalid("unsupported runtime \"" + c.runtime + "\"");
  if (c.handler.empty()) return Status::invalid("handler is required");
  if (version.empty() || version.size() > 9 ||
      !std::all_of(version.begin(), version.end(),
                   [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      version == "0") {
    return Status::invalid("version must be a positive number, got \"" + version + "\"");
  }
  std::error_code ec;
  if (zip_path.empty() && !fs::is_directory(code_dir, ec))
    return Status::notFound("code directory not found: " + code_dir);
  // The code goes through the store's rules (links kept only inside the tree, never followed;
  // bounded size; sane modes) into a staging copy first; its hash is the version's CodeSha256
  // (of the zip's bytes for a zip, as Lambda reports it).
  std::string dir = functionDir(c.name);
  std::string staged = dir + ".import.tmp";
  fs::remove_all(staged, ec);
  fs::create_directories(fs::path(dir).parent_path(), ec);
  struct Cleanup {
    std::string p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{staged};
  uint64_t size = 0;
  std::string sha;
  EVG_RETURN_IF_ERROR(stageCode(zip_path, code_dir, staged, &sha, &size)
                          .withContext("function " + c.name + " version " + version + ": "));
  json vj = configToJson(c);
  vj["CodeSha256"] = sha;
  vj["CodeSize"] = size;
  Meta m{json::object(), dir};
  if (auto loaded = loadMeta(dir, c.name); loaded) {
    m = std::move(*loaded);
    if (m.j.value("Region", "") != region || m.j.value("Account", "") != account) {
      return Status::conflict("function " + c.name + " exists for another region/account (" +
                              m.j.value("Region", "") + "/" + m.j.value("Account", "") + ")");
    }
    if (m.j["Versions"].contains(version)) {
      json old = m.j["Versions"][version];
      old.erase("LastModified");
      old.erase("Description");
      json cmp = vj;
      cmp.erase("Description");
      if (old == cmp) return versionOf(m, version);
      return Status::conflict("function " + c.name + " already has a version " + version +
                              " with other code or configuration (published versions are "
                              "immutable)");
    }
  } else if (loaded.status().code() != Code::kNotFound) {
    return loaded.status();
  } else {
    m.j = json{{"FunctionName", c.name},     {"Region", region},          {"Account", account},
               {"Versions", json::object()}, {"Aliases", json::object()}, {"NextVersion", 1}};
  }
  auto copyCode = [&](const std::string& dest) -> Status {
    fs::remove_all(dest + ".tmp", ec);
    fs::create_directories(fs::path(dest).parent_path(), ec);
    EVG_RETURN_IF_ERROR(copyCodeTree(staged, dest + ".tmp", opts_.code_limits));
    fs::remove_all(dest, ec);
    fs::rename(dest + ".tmp", dest, ec);
    if (ec) return Status::io("rename " + dest + ": " + ec.message());
    return Status::ok();
  };
  EVG_RETURN_IF_ERROR(copyCode(dir + "/code/" + version));
  vj["LastModified"] = isoTimestampNow();
  if (!m.j.contains("Latest")) {
    EVG_RETURN_IF_ERROR(copyCode(dir + "/code/latest"));
    m.j["Latest"] = vj;
  }
  m.j["Versions"][version] = vj;
  uint64_t n = std::stoull(version);
  if (m.j.value("NextVersion", uint64_t{1}) <= n) m.j["NextVersion"] = n + 1;
  EVG_RETURN_IF_ERROR(saveMeta(m));
  *changed = true;
  return versionOf(m, version);
}

}  // namespace evg::functions
