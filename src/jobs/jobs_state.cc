#include "jobs/jobs_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace evg::jobs {

using nlohmann::json;
namespace fs = std::filesystem;

std::string utcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status writeJsonAtomic(const std::string& path, const json& j) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  std::string data = j.dump(2) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("open " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string e = std::strerror(errno);
      ::close(fd);
      return Status::io("write " + tmp + ": " + e);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string e = std::strerror(errno);
    ::close(fd);
    return Status::io("fsync " + tmp + ": " + e);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io("rename " + tmp + ": " + std::strerror(errno));
  }
  int dfd = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

namespace {
Result<std::optional<json>> readJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (!fs::exists(path)) return std::optional<json>();
    return Status::io("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::corruption(path + ": not a JSON object");
  }
  return std::optional<json>(std::move(j));
}
}  // namespace

Result<JobsState> JobsState::load(const std::string& path, size_t max_entries) {
  JobsState s;
  s.path_ = path;
  s.max_entries_ = max_entries == 0 ? 1 : max_entries;
  auto j = readJson(path);
  if (!j) return j.status();
  if (!*j) return s;
  const json& root = **j;
  auto it = root.find("executions");
  if (it == root.end() || !it->is_array()) return s;
  for (const auto& e : *it) {
    if (!e.is_object()) continue;
    HandledExecution h;
    h.job_id = e.value("jobId", std::string());
    h.execution_number = e.value("executionNumber", int64_t{0});
    h.digest = e.value("digest", std::string());
    h.status = e.value("status", std::string());
    h.details = e.value("statusDetails", json::object());
    h.reported = e.value("reported", false);
    h.time = e.value("time", std::string());
    if (!h.job_id.empty()) s.entries_.push_back(std::move(h));
  }
  return s;
}

Status JobsState::save() const {
  json arr = json::array();
  for (const auto& e : entries_) {
    arr.push_back({{"jobId", e.job_id},
                   {"executionNumber", e.execution_number},
                   {"digest", e.digest},
                   {"status", e.status},
                   {"statusDetails", e.details},
                   {"reported", e.reported},
                   {"time", e.time}});
  }
  return writeJsonAtomic(path_, json{{"executions", arr}});
}

const HandledExecution* JobsState::find(const std::string& job_id, int64_t execution_number) const {
  for (const auto& e : entries_) {
    if (e.job_id == job_id && e.execution_number == execution_number) return &e;
  }
  return nullptr;
}

void JobsState::put(HandledExecution e) {
  for (auto& x : entries_) {
    if (x.job_id == e.job_id && x.execution_number == e.execution_number) {
      x = std::move(e);
      return;
    }
  }
  entries_.push_back(std::move(e));
  while (entries_.size() > max_entries_) entries_.erase(entries_.begin());
}

bool JobsState::markReported(const std::string& job_id, int64_t execution_number) {
  for (auto& x : entries_) {
    if (x.job_id == job_id && x.execution_number == execution_number) {
      x.reported = true;
      return true;
    }
  }
  return false;
}

Result<std::optional<InflightJob>> loadInflight(const std::string& path) {
  auto j = readJson(path);
  if (!j) return j.status();
  if (!*j) return std::optional<InflightJob>();
  const json& r = **j;
  InflightJob f;
  f.job_id = r.value("jobId", std::string());
  f.execution_number = r.value("executionNumber", int64_t{0});
  f.digest = r.value("digest", std::string());
  f.deployment_id = r.value("deploymentId", std::string());
  f.rollback_on_failure = r.value("failurePolicy", std::string("rollback")) == "rollback";
  if (auto p = r.find("previousHistoryId"); p != r.end() && p->is_number_integer()) {
    f.previous_history_id = p->get<int64_t>();
  }
  f.previous_group_hash = r.value("previousGroupHash", std::string());
  f.step = r.value("step", std::string());
  f.time = r.value("time", std::string());
  if (f.job_id.empty()) return Status::corruption(path + ": no jobId");
  return std::optional<InflightJob>(std::move(f));
}

Status saveInflight(const std::string& path, const InflightJob& f) {
  json j = {{"jobId", f.job_id},
            {"executionNumber", f.execution_number},
            {"digest", f.digest},
            {"deploymentId", f.deployment_id},
            {"failurePolicy", f.rollback_on_failure ? "rollback" : "leave"},
            {"previousGroupHash", f.previous_group_hash},
            {"step", f.step},
            {"time", f.time}};
  if (f.previous_history_id) j["previousHistoryId"] = *f.previous_history_id;
  return writeJsonAtomic(path, j);
}

Status removeInflight(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Status::io("remove " + path + ": " + ec.message());
  return Status::ok();
}

}  // namespace evg::jobs
