#include "jobs/jobs_client.h"

#include <algorithm>
#include <cstdio>

namespace evg::jobs {

using nlohmann::json;

namespace {

constexpr size_t kMaxDetailChars = 1024;
constexpr size_t kMaxDetailKey = 128;

bool keyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '_' || c == '-';
}

// Control characters (C0, DEL, C1 as UTF-8 0xC2 0x80..0x9F) -> spaces; at most `max` code points.
std::string cleanValue(const std::string& in, size_t max) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < in.size() && chars < max;) {
    auto c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 1;
    if (i + len > in.size()) len = 1;
    if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (len == 1 && c >= 0x80) {
      out += ' ';  // a stray byte of broken UTF-8
    } else if (c == 0xC2 && static_cast<unsigned char>(in[i + 1]) <= 0x9F) {
      out += ' ';
    } else {
      out.append(in, i, len);
    }
    i += len;
    ++chars;
  }
  return out;
}

std::string codeOf(const json& j) { return j.is_object() ? j.value("code", std::string()) : ""; }

Status statusForCode(const std::string& code, const std::string& message) {
  std::string m = code + (message.empty() ? "" : ": " + message);
  if (code == "ResourceNotFound") return Status::notFound(m);
  if (code == "VersionMismatch") return Status::conflict(m);
  if (code == "RequestThrottled") return Status::retry(m);
  if (code == "TerminalStateReached" || code == "InvalidStateTransition") {
    return Status::conflict(m);
  }
  if (code == "InternalError") return Status::internal(m);
  return Status::invalid(m.empty() ? "rejected" : m);
}

bool retryable(const std::string& code) {
  return code == "RequestThrottled" || code == "InternalError";
}

}  // namespace

json sanitizeStatusDetails(const json& details) {
  json out = json::object();
  if (!details.is_object()) return out;
  for (const auto& [k, v] : details.items()) {
    std::string key;
    for (char c : k.substr(0, kMaxDetailKey)) key += keyChar(c) ? c : '_';
    if (key.empty()) continue;
    std::string val = v.is_string() ? v.get<std::string>() : v.dump();
    val = cleanValue(val, kMaxDetailChars);
    if (val.empty()) continue;
    out[key] = val;
  }
  return out;
}

bool isValidJobId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

JobsClient::JobsClient(JobsClientOptions opts, JobsEvents& events)
    : opts_(std::move(opts)),
      events_(events),
      prefix_("$aws/things/" + opts_.thing + "/jobs/"),
      rng_(opts_.seed != 0 ? opts_.seed : std::random_device{}()) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(rng_() & 0xffffffffu));
  token_prefix_ = std::string("evg-") + buf + "-";
  if (opts_.max_attempts == 0) opts_.max_attempts = 1;
}

std::vector<std::string> JobsClient::filters() const {
  return {prefix_ + "notify-next",         prefix_ + "start-next/accepted",
          prefix_ + "start-next/rejected", prefix_ + "+/get/accepted",
          prefix_ + "+/get/rejected",      prefix_ + "+/update/accepted",
          prefix_ + "+/update/rejected"};
}

std::string JobsClient::newToken() { return token_prefix_ + std::to_string(++token_counter_); }

JobsClient::Request* JobsClient::findByToken(const std::string& token) {
  if (token.empty()) return nullptr;
  for (auto& r : pending_) {
    if (r.token == token) return &r;
  }
  return nullptr;
}

void JobsClient::erase(uint64_t id) {
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [id](const Request& r) { return r.id == id; }),
                 pending_.end());
}

void JobsClient::send(Request& r, int64_t now_ms) {
  ++r.attempts;
  if (r.attempts > 1) ++stats_.retries;
  ++stats_.requests;
  r.token = newToken();
  r.deadline_ms = now_ms + opts_.request_timeout_ms;
  json body = {{"clientToken", r.token}};
  std::string topic;
  switch (r.kind) {
    case Kind::kStartNext:
      topic = prefix_ + "start-next";
      break;
    case Kind::kDescribe:
      topic = prefix_ + r.job_id + "/get";
      body["includeJobDocument"] = true;
      break;
    case Kind::kUpdate: {
      topic = prefix_ + r.job_id + "/update";
      body["status"] = r.status;
      json d = sanitizeStatusDetails(r.details);
      if (!d.empty()) body["statusDetails"] = d;
      if (auto it = versions_.find(r.job_id); it != versions_.end() && it->second > 0) {
        body["expectedVersion"] = it->second;
      }
      body["includeJobExecutionState"] = true;
      break;
    }
  }
  events_.publish(topic, body.dump());
}

void JobsClient::retryLater(Request& r, int64_t now_ms, const std::string& why) {
  if (r.attempts >= opts_.max_attempts) {
    Request copy = r;
    fail(std::move(copy),
         Status::timeout("no accepted reply after " + std::to_string(opts_.max_attempts) +
                         " attempts (last: " + why + ")"));
    return;
  }
  uint64_t d = opts_.retry_base_ms;
  for (uint32_t i = 1; i < r.attempts && d < opts_.retry_max_ms; ++i) d *= 2;
  d = std::min<uint64_t>(d, opts_.retry_max_ms);
  uint64_t lo = d / 2;
  uint64_t delay = lo + (d > lo ? rng_() % (d - lo + 1) : 0);
  r.token.clear();
  r.deadline_ms = now_ms + static_cast<int64_t>(delay);
}

void JobsClient::fail(Request r, Status s) {
  erase(r.id);
  switch (r.kind) {
    case Kind::kStartNext:
      break;  // the next connect (or finished job) asks again
    case Kind::kDescribe:
      if (r.internal) {
        // Could not learn the version: the held update is tried with what we have.
        releaseNextUpdate(r.job_id, r.deadline_ms);
      } else {
        events_.onDescribed(r.job_id, s);
      }
      break;
    case Kind::kUpdate:
      events_.onUpdated(r.job_id, r.status, s);
      releaseNextUpdate(r.job_id, r.deadline_ms);
      break;
  }
}

void JobsClient::releaseNextUpdate(const std::string& job_id, int64_t now_ms) {
  for (auto& r : pending_) {
    if (r.kind == Kind::kUpdate && r.job_id == job_id && !r.held) return;  // one on the wire
  }
  for (auto& r : pending_) {
    if (r.kind == Kind::kUpdate && r.job_id == job_id && r.held) {
      r.held = false;
      send(r, now_ms);
      return;
    }
  }
}

void JobsClient::onConnected(int64_t now_ms) {
  bool start_next_pending = false;
  for (auto& r : pending_) {
    if (r.kind == Kind::kStartNext) start_next_pending = true;
    if (!r.held) send(r, now_ms);  // a fresh token: replies to the old one are gone
  }
  if (!start_next_pending) startNext(now_ms);
}

void JobsClient::startNext(int64_t now_ms) {
  for (const auto& r : pending_) {
    if (r.kind == Kind::kStartNext) return;
  }
  Request r;
  r.id = next_id_++;
  r.kind = Kind::kStartNext;
  pending_.push_back(r);
  send(pending_.back(), now_ms);
}

void JobsClient::describe(const std::string& job_id, int64_t now_ms) {
  Request r;
  r.id = next_id_++;
  r.kind = Kind::kDescribe;
  r.job_id = job_id;
  pending_.push_back(r);
  send(pending_.back(), now_ms);
}

void JobsClient::update(const std::string& job_id, const std::string& status, json details,
                        int64_t expected_version, int64_t now_ms) {
  if (expected_version > 0) {
    auto& v = versions_[job_id];
    v = std::max(v, expected_version);
  }
  Request r;
  r.id = next_id_++;
  r.kind = Kind::kUpdate;
  r.job_id = job_id;
  r.status = status;
  r.details = std::move(details);
  bool busy = false;
  for (const auto& p : pending_) {
    if (p.kind == Kind::kUpdate && p.job_id == job_id) busy = true;
  }
  r.held = busy;
  pending_.push_back(r);
  if (!busy) send(pending_.back(), now_ms);
}

void JobsClient::tick(int64_t now_ms) {
  std::vector<uint64_t> due;
  for (const auto& r : pending_) {
    if (!r.held && r.deadline_ms <= now_ms) due.push_back(r.id);
  }
  for (uint64_t id : due) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [id](const Request& r) { return r.id == id; });
    if (it == pending_.end()) continue;
    if (!it->token.empty()) {
      ++stats_.timeouts;
      retryLater(*it, now_ms,
                 "no reply within " + std::to_string(opts_.request_timeout_ms) + " ms");
    } else {
      send(*it, now_ms);
    }
  }
}

std::optional<int64_t> JobsClient::nextDeadline() const {
  std::optional<int64_t> d;
  for (const auto& r : pending_) {
    if (!r.held && (!d || r.deadline_ms < *d)) d = r.deadline_ms;
  }
  return d;
}

Result<Execution> JobsClient::parseExecution(const json& j) {
  if (!j.is_object()) return Status::invalid("execution: not an object");
  Execution e;
  e.job_id = j.value("jobId", std::string());
  if (!isValidJobId(e.job_id)) return Status::invalid("execution: invalid jobId");
  auto num = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  e.execution_number = num("executionNumber");
  e.version_number = num("versionNumber");
  e.status = j.value("status", std::string());
  if (auto d = j.find("jobDocument"); d != j.end()) {
    if (d->is_string()) {
      // The HTTPS data plane (and some relays) carry the document as a string.
      json parsed = json::parse(d->get<std::string>(), nullptr, false);
      if (parsed.is_discarded()) return Status::invalid("jobDocument: not JSON");
      e.document = std::move(parsed);
    } else {
      e.document = *d;
    }
  }
  return e;
}

bool JobsClient::onMessage(const std::string& topic, const std::string& payload, int64_t now_ms) {
  if (topic.rfind(prefix_, 0) != 0) return false;
  std::string rest = topic.substr(prefix_.size());
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return true;
  if (rest == "notify-next") {
    if (auto ex = j.find("execution"); ex != j.end()) {
      auto e = parseExecution(*ex);
      if (e) events_.onNextExecution(*e);
    } else {
      events_.onNoNextExecution();
    }
    return true;
  }
  bool accepted;
  if (rest.size() > 9 && rest.compare(rest.size() - 9, 9, "/accepted") == 0) {
    accepted = true;
    rest.resize(rest.size() - 9);
  } else if (rest.size() > 9 && rest.compare(rest.size() - 9, 9, "/rejected") == 0) {
    accepted = false;
    rest.resize(rest.size() - 9);
  } else {
    return true;  // notify, get (pending list) requests echoed, ...
  }
  Request* r = findByToken(j.value("clientToken", std::string()));
  if (r == nullptr) {
    ++stats_.unmatched_replies;
    return true;
  }
  std::string code = accepted ? "" : codeOf(j);
  if (!accepted) ++stats_.rejected;
  if (!accepted && retryable(code)) {
    retryLater(*r, now_ms, code);
    return true;
  }
  Request req = *r;
  switch (req.kind) {
    case Kind::kStartNext: {
      erase(req.id);
      if (accepted) {
        if (auto ex = j.find("execution"); ex != j.end()) {
          auto e = parseExecution(*ex);
          if (e) {
            versions_[e->job_id] = e->version_number;
            events_.onNextExecution(*e);
          }
        }
      }
      break;
    }
    case Kind::kDescribe: {
      erase(req.id);
      if (accepted) {
        auto e = parseExecution(j.value("execution", json()));
        if (e && e->version_number > 0) versions_[req.job_id] = e->version_number;
        if (req.internal) {
          releaseNextUpdate(req.job_id, now_ms);
        } else {
          events_.onDescribed(req.job_id, std::move(e));
        }
      } else {
        fail(req, statusForCode(code, j.value("message", std::string())));
      }
      break;
    }
    case Kind::kUpdate: {
      if (accepted) {
        int64_t v = 0;
        if (auto st = j.find("executionState"); st != j.end() && st->is_object()) {
          v = st->value("versionNumber", int64_t{0});
        }
        versions_[req.job_id] = v > 0 ? v : versions_[req.job_id] + 1;
        erase(req.id);
        events_.onUpdated(req.job_id, req.status, Status::ok());
        releaseNextUpdate(req.job_id, now_ms);
      } else if (code == "VersionMismatch" && req.attempts < opts_.max_attempts) {
        ++stats_.version_mismatches;
        int64_t v = 0;
        if (auto st = j.find("executionState"); st != j.end() && st->is_object()) {
          v = st->value("versionNumber", int64_t{0});
        }
        if (v > 0) {
          versions_[req.job_id] = v;
          send(*r, now_ms);
        } else {
          // Learn the version first: the update waits for the describe.
          r->held = true;
          r->token.clear();
          Request d;
          d.id = next_id_++;
          d.kind = Kind::kDescribe;
          d.job_id = req.job_id;
          d.internal = true;
          pending_.push_back(d);
          send(pending_.back(), now_ms);
        }
      } else {
        fail(req, statusForCode(code, j.value("message", std::string())));
      }
      break;
    }
  }
  return true;
}

}  // namespace evg::jobs
