#include "secrets/secret_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json.h"
#include "secrets/secret_crypto.h"

namespace evg::secrets {

using nlohmann::json;

namespace {

bool fileStat(const std::string& path, int64_t* mtime_ns, int64_t* size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  *size = static_cast<int64_t>(st.st_size);
  return true;
}

Status writeAtomic(const std::string& path, const std::string& data) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Status::io("cannot create " + parent.string() + ": " + ec.message());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("cannot create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::io("cannot write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::io("cannot replace " + path);
  }
  return Status::ok();
}

bool validStage(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string aadOf(const std::string& arn, const std::string& version_id) {
  return arn + "|" + version_id;
}

std::string newVersionId() {
  auto r = randomBytes(16);
  std::string b = r ? *r : std::string(16, '\0');
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[(static_cast<unsigned char>(b[i]) >> 4) & 0xF];
    out += kHex[static_cast<unsigned char>(b[i]) & 0xF];
  }
  return out;
}

}  // namespace

Result<std::string> secretNameFromArn(std::string_view arn) {
  // arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[-XXXXXX]
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (int i = 0; i < 6; ++i) {
    size_t p = arn.find(':', start);
    if (p == std::string_view::npos) break;
    parts.push_back(arn.substr(start, p - start));
    start = p + 1;
  }
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "secretsmanager" ||
      parts[5] != "secret" || start >= arn.size()) {
    return Status::invalid("'" + std::string(arn) +
                           "' is not a Secrets Manager ARN "
                           "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)");
  }
  std::string id(arn.substr(start));
  size_t dash = id.rfind('-');
  if (dash != std::string::npos && dash > 0 && id.size() - dash - 1 == 6) id.resize(dash);
  return id;
}

Result<std::unique_ptr<SecretStore>> SecretStore::open(SecretStoreOptions opts) {
  std::unique_ptr<SecretStore> s(new SecretStore(std::move(opts)));
  const auto& o = s->opts_;
  bool store_exists = std::filesystem::exists(o.path);
  if (!store_exists) {
    if (!std::filesystem::exists(o.key_path)) {
      if (!o.create_key) {
        return Status::notFound("secrets key " + o.key_path + " does not exist");
      }
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(o.key_path).parent_path(), ec);
      EVG_RETURN_IF_ERROR(generateRsaKeyFile(o.key_path));
    }
    auto k = randomBytes(kDataKeyBytes);
    if (!k) return k.status();
    auto w = rsaWrap(o.key_path, *k);
    if (!w) return w.status();
    s->data_key_ = std::move(k).value();
    s->wrapped_key_ = std::move(w).value();
    return s;
  }
  EVG_RETURN_IF_ERROR(s->load());
  return s;
}

Status SecretStore::load() {
  int64_t mtime = 0, size = 0;
  if (!fileStat(opts_.path, &mtime, &size)) return Status::io("cannot stat " + opts_.path);
  std::ifstream in(opts_.path, std::ios::binary);
  if (!in) return Status::io("cannot read " + opts_.path);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = parseJsonOrDiscarded(ss.str());
  auto bad = [&](const std::string& why) { return Status::corruption(opts_.path + ": " + why); };
  if (!j.is_object() || j.value("format", 0) != 1) return bad("not a format-1 secret store");
  if (!j.contains("wrappedKey") || !j["wrappedKey"].is_string()) return bad("no wrappedKey");
  auto wrapped = base64Decode(j["wrappedKey"].get<std::string>());
  if (!wrapped) return bad("wrappedKey: " + wrapped.status().message());
  if (*wrapped != wrapped_key_ || data_key_.empty()) {
    auto key = rsaUnwrap(opts_.key_path, *wrapped);
    if (!key) return key.status();
    OPENSSL_cleanse(data_key_.data(), data_key_.size());
    data_key_ = std::move(key).value();
    wrapped_key_ = std::move(wrapped).value();
  }
  std::vector<Entry> entries;
  for (const auto& e : j.value("secrets", json::array())) {
    if (!e.is_object()) return bad("secrets[] entry is not an object");
    Entry en;
    en.arn = e.value("arn", "");
    en.name = e.value("name", "");
    for (const auto& v : e.value("versions", json::array())) {
      Version ver;
      ver.version_id = v.value("versionId", "");
      ver.stages = v.value("stages", std::vector<std::string>{});
      ver.created_ms = v.value("createdDate", int64_t{0});
      ver.binary = v.value("binary", false);
      auto sealed = base64Decode(v.value("sealed", ""));
      if (!sealed) return bad(en.arn + ": sealed value is not base64");
      ver.sealed = std::move(sealed).value();
      en.versions.push_back(std::move(ver));
    }
    entries.push_back(std::move(en));
  }
  entries_ = std::move(entries);
  file_mtime_ns_ = mtime;
  file_size_ = size;
  return Status::ok();
}

Status SecretStore::write() {
  json secrets = json::array();
  for (const auto& e : entries_) {
    json versions = json::array();
    for (const auto& v : e.versions) {
      versions.push_back({{"versionId", v.version_id},
                          {"stages", v.stages},
                          {"createdDate", v.created_ms},
                          {"binary", v.binary},
                          {"sealed", base64Encode(v.sealed)}});
    }
    secrets.push_back({{"arn", e.arn}, {"name", e.name}, {"versions", versions}});
  }
  json j{{"format", 1},
         {"keyPath", opts_.key_path},
         {"wrappedKey", base64Encode(wrapped_key_)},
         {"secrets", secrets}};
  EVG_RETURN_IF_ERROR(writeAtomic(opts_.path, j.dump(1) + "\n"));
  fileStat(opts_.path, &file_mtime_ns_, &file_size_);
  return Status::ok();
}

Status SecretStore::reloadIfChanged() {
  int64_t mtime = 0, size = 0;
  if (!fileStat(opts_.path, &mtime, &size)) return Status::ok();  // nothing stored yet
  if (mtime == file_mtime_ns_ && size == file_size_) return Status::ok();
  return load();
}

Result<SecretValue> SecretStore::put(const std::string& arn, const std::string& value, bool binary,
                                     std::vector<std::string> stages, int64_t now_ms) {
  auto name = secretNameFromArn(arn);
  if (!name) return name.status();
  if (value.empty()) return Status::invalid("the secret value is empty");
  if (value.size() > opts_.max_value_bytes) {
    return Status::invalid("the secret value is " + std::to_string(value.size()) +
                           " bytes; the limit is " + std::to_string(opts_.max_value_bytes));
  }
  if (stages.empty()) stages.emplace_back(kStageCurrent);
  for (const auto& s : stages) {
    if (!validStage(s)) return Status::invalid("invalid staging label '" + s + "'");
  }
  EVG_RETURN_IF_ERROR(reloadIfChanged());
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.arn == arn; });
  if (it == entries_.end()) {
    if (entries_.size() >= opts_.max_secrets) {
      return Status::busy("secret store full (" + std::to_string(opts_.max_secrets) + " secrets)");
    }
    entries_.push_back(Entry{arn, *name, {}});
    it = entries_.end() - 1;
  }
  Version v;
  v.version_id = newVersionId();
  v.created_ms = now_ms;
  v.binary = binary;
  v.stages = stages;
  auto sealed = aesGcmSeal(data_key_, value, aadOf(arn, v.version_id));
  if (!sealed) return sealed.status();
  v.sealed = std::move(sealed).value();
  bool moves_current = std::find(stages.begin(), stages.end(), kStageCurrent) != stages.end();
  for (auto& old : it->versions) {
    bool was_current =
        std::find(old.stages.begin(), old.stages.end(), kStageCurrent) != old.stages.end();
    std::erase_if(old.stages, [&](const std::string& s) {
      return std::find(stages.begin(), stages.end(), s) != stages.end() ||
             (moves_current && s == kStagePrevious);
    });
    if (moves_current && was_current) old.stages.emplace_back(kStagePrevious);
  }
  std::erase_if(it->versions, [](const Version& x) { return x.stages.empty(); });
  it->versions.push_back(v);
  while (it->versions.size() > opts_.max_versions) it->versions.erase(it->versions.begin());
  EVG_RETURN_IF_ERROR(write());
  return SecretValue{arn, *name, v.version_id, v.stages, v.created_ms, binary, value};
}

const SecretStore::Entry* SecretStore::find(const std::string& id) const {
  for (const auto& e : entries_) {
    if (e.arn == id || e.name == id) return &e;
    // A partial ARN (without the -XXXXXX suffix).
    if (e.arn.size() == id.size() + 7 && e.arn.compare(0, id.size(), id) == 0 &&
        e.arn[id.size()] == '-') {
      return &e;
    }
  }
  return nullptr;
}

Result<std::string> SecretStore::resolveArn(const std::string& secret_id) const {
  const Entry* e = find(secret_id);
  if (e == nullptr) return Status::notFound("no value stored for secret " + secret_id);
  return e->arn;
}

Result<SecretValue> SecretStore::get(const std::string& secret_id, const std::string& stage,
                                     const std::string& version_id) const {
  const Entry* e = find(secret_id);
  if (e == nullptr) return Status::notFound("no value stored for secret " + secret_id);
  const Version* v = nullptr;
  for (const auto& x : e->versions) {
    bool match = !version_id.empty()
                     ? x.version_id == version_id
                     : std::find(x.stages.begin(), x.stages.end(), stage) != x.stages.end();
    if (match) v = &x;
  }
  if (v == nullptr) {
    return Status::notFound("secret " + e->name + " has no version " +
                            (version_id.empty() ? "with stage " + stage : version_id));
  }
  auto plain = aesGcmOpen(data_key_, v->sealed, aadOf(e->arn, v->version_id));
  if (!plain) return plain.status();
  return SecretValue{e->arn,        e->name,   v->version_id,           v->stages,
                     v->created_ms, v->binary, std::move(plain).value()};
}

std::vector<std::string> SecretStore::arns() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.arn);
  return out;
}

}  // namespace evg::secrets
