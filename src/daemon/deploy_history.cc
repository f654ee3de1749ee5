#include "daemon/deploy_history.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/json.h"
#include "daemon/root.h"

namespace evg::daemon {

namespace fs = std::filesystem;
using nlohmann::json;

json DeploymentRecord::toJson() const {
  json j = {{"id", id},
            {"source", source},
            {"time", time},
            {"groupHash", group_hash},
            {"functions", functions},
            {"result", succeeded ? "succeeded" : "rejected"},
            {"message", message},
            {"groupKept", has_group}};
  if (rollback_of) j["rollbackOf"] = *rollback_of;
  return j;
}

Result<DeploymentRecord> DeploymentRecord::fromJson(const json& j) {
  try {
    if (!j.is_object()) return Status::invalid("expected an object");
    DeploymentRecord r;
    r.id = j.at("id").get<int64_t>();
    r.source = j.at("source").get<std::string>();
    r.time = j.at("time").get<std::string>();
    r.group_hash = j.at("groupHash").get<std::string>();
    r.functions = j.at("functions").get<std::vector<std::string>>();
    std::string result = j.at("result").get<std::string>();
    if (result != "succeeded" && result != "rejected") {
      return Status::invalid("result: expected \"succeeded\" or \"rejected\", got \"" + result +
                             "\"");
    }
    r.succeeded = result == "succeeded";
    r.message = j.value("message", std::string());
    r.has_group = j.value("groupKept", false);
    if (j.contains("rollbackOf")) r.rollback_of = j["rollbackOf"].get<int64_t>();
    return r;
  } catch (const json::exception& e) {
    return Status::invalid(e.what());
  }
}

std::string groupHash(const json& canonical) {
  std::string text = canonical.dump();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string utcNowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string deploymentsDirOf(const std::string& root) { return root + "/var/deployments"; }

DeployHistory::DeployHistory(DeployHistoryOptions opts)
    : opts_(std::move(opts)), file_(opts_.dir + "/history.jsonl") {
  if (opts_.max_entries == 0) opts_.max_entries = 1;
}

std::string DeployHistory::groupFile(int64_t id) const {
  return opts_.dir + "/groups/" + std::to_string(id) + ".json";
}

Result<std::vector<DeploymentRecord>> DeployHistory::list() const {
  std::vector<DeploymentRecord> out;
  std::ifstream in(file_);
  if (!in) return out;  // no history yet
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto j = parseJsonOrDiscarded(line);
    if (j.is_discarded()) {
      return Status::corruption(file_ + ":" + std::to_string(n) + ": not valid JSON");
    }
    auto r = DeploymentRecord::fromJson(j);
    if (!r) {
      return Status::corruption(file_ + ":" + std::to_string(n) + ": " + r.status().message());
    }
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<DeploymentRecord> DeployHistory::record(DeploymentRecord r, const json* group) {
  auto all = list();
  if (!all) return all.status();
  auto records = std::move(all).value();
  r.id = records.empty() ? 1 : records.back().id + 1;
  if (r.time.empty()) r.time = utcNowRfc3339();
  r.has_group = false;
  if (group != nullptr && r.succeeded) {
    EVG_RETURN_IF_ERROR(writeFileAtomic(groupFile(r.id), group->dump(2) + "\n", 0600));
    r.has_group = true;
  }
  records.push_back(r);
  std::vector<int64_t> dropped;
  if (records.size() > opts_.max_entries) {
    size_t n = records.size() - opts_.max_entries;
    for (size_t i = 0; i < n; ++i) {
      if (records[i].has_group) dropped.push_back(records[i].id);
    }
    records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::string text;
  for (const auto& rec : records) text += rec.toJson().dump() + "\n";
  EVG_RETURN_IF_ERROR(writeFileAtomic(file_, text, 0600));
  for (int64_t id : dropped) {
    std::error_code ec;
    fs::remove(groupFile(id), ec);
  }
  return r;
}

Result<DeploymentRecord> DeployHistory::get(int64_t id) const {
  auto all = list();
  if (!all) return all.status();
  for (const auto& r : *all) {
    if (r.id == id) return r;
  }
  return Status::notFound("no deployment " + std::to_string(id) + " in " + file_ +
                          " (never recorded, or older than the last " +
                          std::to_string(opts_.max_entries) + " kept)");
}

Result<json> DeployHistory::groupOf(int64_t id) const {
  auto text = readFile(groupFile(id));
  if (!text) {
    return Status::notFound("the group of deployment " + std::to_string(id) + " is not kept (" +
                            groupFile(id) + " missing)");
  }
  auto j = parseJsonOrDiscarded(*text);
  if (j.is_discarded()) return Status::corruption(groupFile(id) + ": not valid JSON");
  return j;
}

Result<DeploymentRecord> DeployHistory::rollbackTarget(std::optional<int64_t> id,
                                                       const std::string& active_hash) const {
  if (id) {
    auto r = get(*id);
    if (!r) return r.status();
    if (!r->succeeded) {
      return Status::invalid("deployment " + std::to_string(*id) +
                             " was rejected; only a successful deployment can be re-activated");
    }
    if (!r->has_group) {
      return Status::invalid("deployment " + std::to_string(*id) + " (" + r->source +
                             ") has no group to re-activate");
    }
    return r;
  }
  auto all = list();
  if (!all) return all.status();
  for (auto it = all->rbegin(); it != all->rend(); ++it) {
    if (it->succeeded && it->has_group && it->group_hash != active_hash) return *it;
  }
  return Status::notFound(
      "no earlier successful deployment with a different group to roll back to (see `evergreen "
      "deployments list`)");
}

}  // namespace evg::daemon
