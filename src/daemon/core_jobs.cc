// JobAgent (core_jobs.h): fleet deployments over AWS IoT Jobs on the core's cloud connection.
#include "daemon/core_jobs.h"

#include <filesystem>
#include <fstream>

#include "aws/sigv4.h"
#include "base/base64.h"
#include "base/json.h"
#include "daemon/core.h"

namespace evg::daemon {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

jobs::JobsClientOptions clientOptions(const config::CoreConfig& cfg) {
  const auto& j = cfg.evergreen.jobs;
  jobs::JobsClientOptions o;
  o.thing = cfg.core_thing.thing_name;
  o.request_timeout_ms = static_cast<uint32_t>(j.request_timeout_ms);
  o.max_attempts = static_cast<uint32_t>(j.max_attempts);
  o.retry_base_ms = static_cast<uint32_t>(j.retry_base_ms);
  o.retry_max_ms = static_cast<uint32_t>(j.retry_max_ms);
  return o;
}

// Lambda's CodeSha256 (base64 of the digest) of a hex SHA-256.
std::string hexToBase64(const std::string& hex) {
  std::string raw(32, '\0');
  for (size_t i = 0; i < 32; ++i) {
    raw[i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return base64Encode(raw);
}

// "https://host:port/path?query" -> endpoint + target.
Result<std::pair<aws::Endpoint, std::string>> splitUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return Status::invalid("not a URL: " + url);
  size_t path = url.find('/', scheme_end + 3);
  std::string base = path == std::string::npos ? url : url.substr(0, path);
  std::string target = path == std::string::npos ? "/" : url.substr(path);
  auto ep = aws::Endpoint::parse(base);
  if (!ep) return ep.status();
  return std::make_pair(std::move(ep).value(), target);
}

std::string withoutQuery(const std::string& url) {
  size_t q = url.find('?');
  return q == std::string::npos ? url : url.substr(0, q);
}

int64_t msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

JobAgent::JobAgent(Core& core, Log log)
    : core_(core),
      log_(std::move(log)),
      client_(clientOptions(core.cfg_), *this),
      timer_(core.io_),
      health_timer_(core.io_) {
  std::string dir = deploymentsDirOf(core.paths_.root);
  state_path_ = dir + "/jobs-state.json";
  inflight_path_ = dir + "/job-inflight.json";
  downloads_dir_ = dir + "/downloads";
}

JobAgent::~JobAgent() {
  *alive_ = false;
  if (http_) http_->shutdown();
}

int64_t JobAgent::nowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

Status JobAgent::start() {
  const auto& jc = core_.cfg_.evergreen.jobs;
  aws::HttpClientOptions ho;
  ho.max_attempts = static_cast<uint32_t>(jc.download_attempts);
  ho.request_timeout_ms = static_cast<uint32_t>(jc.download_timeout_ms);
  ho.max_response_bytes = static_cast<size_t>(jc.max_artifact_bytes);
  aws::TlsOptions tls;
  tls.ca_path = jc.ca_file;
  auto http = aws::HttpClient::create(core_.io_, ho, tls, log_);
  if (!http) return http.status().withContext("evergreen.jobs.caFile: ");
  http_ = std::move(http).value();
  auto st = jobs::JobsState::load(state_path_, static_cast<size_t>(jc.max_handled));
  if (!st) {
    // Unreadable: moved aside, so a redelivered job could run again; said loudly.
    log_.error(st.status().message() + "; moved aside, starting with an empty job state");
    std::error_code ec;
    std::filesystem::rename(state_path_, state_path_ + ".corrupt", ec);
    st = jobs::JobsState::load(state_path_, static_cast<size_t>(jc.max_handled));
    if (!st) return st.status();
  }
  state_ = std::move(st).value();
  auto inflight = jobs::loadInflight(inflight_path_);
  if (!inflight) {
    log_.error("job journal: " + inflight.status().message() + "; ignored");
  } else if (*inflight) {
    recover(**inflight);
  }
  log_.info("IoT Jobs: listening on $aws/things/" + core_.cfg_.core_thing.thing_name + "/jobs/");
  return Status::ok();
}

void JobAgent::stop() {
  *alive_ = false;
  timer_.cancel();
  health_timer_.cancel();
  if (http_) http_->shutdown();
}

std::string JobAgent::inFlight() const {
  if (job_) {
    return "job " + job_->exec.job_id +
           (job_->doc.deployment_id.empty() ? "" : " (" + job_->doc.deployment_id + ")") +
           ", step " + job_->step + (job_->canceled ? " (canceled in the cloud)" : "");
  }
  if (recovering_) return "job " + recovering_job_ + " (recovery after a restart)";
  return {};
}

json JobAgent::status() const {
  const auto& s = client_.stats();
  json j = {{"inFlight", inFlight()},
            {"executions", stats_.executions},
            {"succeeded", stats_.succeeded},
            {"failed", stats_.failed},
            {"rejected", stats_.rejected},
            {"duplicates", stats_.duplicates},
            {"downloads", stats_.downloads},
            {"urlRefreshes", stats_.url_refreshes},
            {"recovered", stats_.recovered},
            {"requests", s.requests},
            {"retries", s.retries},
            {"timeouts", s.timeouts},
            {"rejectedReplies", s.rejected},
            {"versionMismatches", s.version_mismatches},
            {"alreadyApplied", s.already_applied},
            {"pendingRequests", client_.pending()}};
  if (!stats_.last.is_null()) j["last"] = stats_.last;
  return j;
}

void JobAgent::publish(const std::string& topic, std::string payload) {
  if (core_.cloud_)
    core_.cloud_->publish(topic, std::make_shared<const std::string>(std::move(payload)));
}

void JobAgent::pump() {
  auto d = client_.nextDeadline();
  if (!d) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, *d - nowMs())));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    client_.tick(nowMs());
    pump();
  });
}

bool JobAgent::onCloudMessage(const std::string& topic, const std::string& payload) {
  bool mine = client_.onMessage(topic, payload, nowMs());
  if (mine) pump();
  return mine;
}

void JobAgent::onCloudConnected() {
  client_.onConnected(nowMs());
  pump();
}

void JobAgent::report(const jobs::HandledExecution& h, int64_t expected_version) {
  client_.update(h.job_id, h.status, h.details, expected_version, nowMs());
  pump();
}

void JobAgent::onNextExecution(const jobs::Execution& e) {
  if (job_ || recovering_) {
    // One job at a time; start-next after this one picks the next.
    if (!job_ || job_->exec.job_id != e.job_id) {
      log_.info("job " + e.job_id + " waits: " + inFlight());
      if (job_) checkStillLive();
    }
    return;
  }
  if (const auto* h = state_.find(e.job_id, e.execution_number)) {
    ++stats_.duplicates;
    if (e.document && jobs::documentDigest(*e.document) != h->digest && !h->digest.empty()) {
      log_.warn("job " + e.job_id + " execution " + std::to_string(e.execution_number) +
                ": the document differs from the one handled (beyond re-signed URLs); an "
                "execution is applied once, so it is not applied");
    }
    if (!h->reported && client_.updatePending(e.job_id)) {
      // Its final update is still on the wire (start-next answered first): not sent twice.
    } else if (!h->reported) {
      log_.info("job " + e.job_id + " execution " + std::to_string(e.execution_number) +
                " was already handled (" + h->status + "); reporting its result again");
      report(*h, e.version_number);
    } else {
      log_.info("job " + e.job_id + " execution " + std::to_string(e.execution_number) +
                " was already handled (" + h->status + "); not applied again");
    }
    return;
  }
  if (!e.document) {
    client_.describe(e.job_id, nowMs());  // onDescribed starts it
    pump();
    return;
  }
  begin(e);
}

void JobAgent::onNoNextExecution() {
  if (job_) checkStillLive();
}

void JobAgent::checkStillLive() {
  if (job_->checking || job_->waiting_refresh) return;
  job_->checking = true;
  client_.describe(job_->exec.job_id, nowMs());
  pump();
}

void JobAgent::onDescribed(const std::string& job_id, Result<jobs::Execution> e) {
  if (job_ && job_->exec.job_id == job_id && job_->checking && !job_->waiting_refresh) {
    job_->checking = false;
    bool gone = !e ? e.status().code() == Code::kNotFound
                   : e->status != "IN_PROGRESS" && e->status != "QUEUED" && !e->status.empty();
    if (gone) {
      log_.warn("job " + job_id + " is " + (e ? e->status : std::string("gone")) +
                " in the cloud; it is dropped if not yet activated");
      job_->canceled = true;
    }
    return;
  }
  if (job_ && job_->exec.job_id == job_id && job_->waiting_refresh) {
    job_->waiting_refresh = false;
    if (!e || !e->document) {
      fail("download", "artifact URL refused and the job document could not be fetched again: " +
                           (e ? std::string("no document in the reply") : e.status().message()));
      return;
    }
    auto doc = jobs::parseJobDocument(*e->document);
    if (!doc || jobs::documentDigest(*e->document) != job_->digest) {
      fail("download",
           "the job document fetched again for fresh URLs differs from the one applied");
      return;
    }
    ++stats_.url_refreshes;
    for (auto& d : job_->downloads) {
      d.artifact = d.index < 0 ? *doc->group_artifact : doc->functions[d.index].artifact;
    }
    log_.info("job " + job_id + ": fresh artifact URLs; retrying " +
              job_->downloads[job_->next_download].what);
    downloadNext();
    return;
  }
  if (job_ || !e) {
    if (!e) log_.warn("job " + job_id + ": describe failed: " + e.status().message());
    return;
  }
  onNextExecution(*e);
}

json JobAgent::baseDetails(const std::string& step) const {
  json d = {{"step", step}};
  if (job_ && !job_->doc.deployment_id.empty()) d["deploymentId"] = job_->doc.deployment_id;
  if (job_ && job_->history_id) d["historyId"] = std::to_string(*job_->history_id);
  return d;
}

void JobAgent::begin(const jobs::Execution& e) {
  ++stats_.executions;
  Job j;
  j.exec = e;
  j.raw_doc = *e.document;
  j.digest = jobs::documentDigest(*e.document);
  j.doc_arrived = Clock::now();
  auto doc = jobs::parseJobDocument(*e.document);
  job_ = std::move(j);
  if (!doc) {
    log_.warn("job " + e.job_id + " REJECTED: " + doc.status().message());
    ++stats_.rejected;
    json d = {{"reason", doc.status().message()}, {"step", "validate"}, {"rolledBack", "false"}};
    finish("REJECTED", std::move(d));
    return;
  }
  job_->doc = std::move(doc).value();
  job_->step = "download";
  log_.info("job " + e.job_id + " execution " + std::to_string(e.execution_number) + ": " +
            std::to_string(job_->doc.functions.size()) + " function version(s)" +
            (job_->doc.deployment_id.empty() ? "" : ", deployment " + job_->doc.deployment_id));
  client_.update(e.job_id, "IN_PROGRESS", baseDetails("download"), e.version_number, nowMs());
  pump();
  // Remote config changes the device allows (job_document.cc remoteConfigKeys()).
  if (auto it = job_->doc.config.find("log.level"); it != job_->doc.config.end()) {
    auto lvl = parseLogLevel(it->second);
    if (lvl) {
      core_.logger_.setLevel(*lvl);
      log_.info("job " + e.job_id + ": log level set to " + it->second);
    }
  }
  checkStore();
}

void JobAgent::checkStore() {
  // On the pool: which versions exist already (same hash: kept; other hash: FAILED).
  std::vector<jobs::FunctionArtifact> fns = job_->doc.functions;
  asio::post(core_.pool_, [this, alive = alive_, fns = std::move(fns)] {
    std::string conflict;
    std::vector<bool> have(fns.size(), false);
    for (size_t i = 0; i < fns.size() && conflict.empty(); ++i) {
      auto v = core_.store_->get(fns[i].name, std::to_string(fns[i].version));
      if (!v) continue;
      if (v->code_sha256 == hexToBase64(fns[i].artifact.sha256)) {
        have[i] = true;
      } else {
        conflict = "functions[" + std::to_string(i) + "]: " + fns[i].name + " version " +
                   std::to_string(fns[i].version) +
                   " exists with other code (published versions are immutable; nothing changed)";
      }
    }
    asio::post(core_.io_, [this, alive, conflict, have] {
      if (!*alive || !job_) return;
      if (!conflict.empty()) {
        fail("download", conflict);
        return;
      }
      if (job_->doc.group_artifact) {
        job_->downloads.push_back({"groupArtifact", -1, *job_->doc.group_artifact, ""});
      }
      for (size_t i = 0; i < job_->doc.functions.size(); ++i) {
        if (have[i]) continue;
        const auto& f = job_->doc.functions[i];
        job_->downloads.push_back(
            {"functions[" + std::to_string(i) + "] " + f.name + ":" + std::to_string(f.version),
             static_cast<int>(i), f.artifact, ""});
      }
      job_->download_started = Clock::now();
      downloadNext();
    });
  });
}

bool JobAgent::abandonIfCanceled() {
  if (!job_->canceled) return false;
  log_.warn("job " + job_->exec.job_id + " was canceled in the cloud before activation; dropped");
  finish("CANCELED", {{"reason", "canceled in the cloud before activation"}}, false);
  return true;
}

void JobAgent::downloadNext() {
  if (abandonIfCanceled()) return;
  if (job_->next_download >= job_->downloads.size()) {
    job_->download_done = Clock::now();
    importAll();
    return;
  }
  auto& d = job_->downloads[job_->next_download];
  uint64_t max = static_cast<uint64_t>(core_.cfg_.evergreen.jobs.max_artifact_bytes);
  if (d.artifact.size && *d.artifact.size > max) {
    fail("download", d.what + ": size " + std::to_string(*d.artifact.size) +
                         " is over evergreen.jobs.maxArtifactBytes (" + std::to_string(max) + ")");
    return;
  }
  auto u = splitUrl(d.artifact.url);
  if (!u) {
    fail("download", d.what + ".url: " + u.status().message());
    return;
  }
  ++stats_.downloads;
  aws::HttpRequest req;
  req.target = u->second;
  http_->send(u->first, std::move(req), [this, alive = alive_](Result<aws::HttpResponse> r) {
    if (!*alive || !job_) return;
    onDownloaded(std::move(r));
  });
}

void JobAgent::onDownloaded(Result<aws::HttpResponse> r) {
  auto& d = job_->downloads[job_->next_download];
  std::string where = d.what + " (" + withoutQuery(d.artifact.url) + ")";
  if (!r) {
    fail("download", "download of " + where + " failed: " + r.status().message());
    return;
  }
  if (r->status == 403 || r->status == 400) {
    int max = core_.cfg_.evergreen.jobs.url_refreshes;
    if (job_->refreshes >= max) {
      fail("download", "download of " + where + ": HTTP " + std::to_string(r->status) + " after " +
                           std::to_string(max) +
                           " refreshes of the presigned URL (evergreen.jobs.urlRefreshes)");
      return;
    }
    ++job_->refreshes;
    job_->waiting_refresh = true;
    log_.info("job " + job_->exec.job_id + ": " + where + " answered HTTP " +
              std::to_string(r->status) + " (expired URL?); fetching the job document again");
    client_.describe(job_->exec.job_id, nowMs());
    pump();
    return;
  }
  if (r->status != 200) {
    fail("download", "download of " + where + ": HTTP " + std::to_string(r->status));
    return;
  }
  if (d.artifact.size && r->body.size() != *d.artifact.size) {
    fail("download", where + ": " + std::to_string(r->body.size()) +
                         " bytes received, the document says " + std::to_string(*d.artifact.size));
    return;
  }
  std::string got = aws::sha256Hex(r->body);
  if (got != d.artifact.sha256) {
    fail("download", where + ": SHA-256 mismatch (expected " + d.artifact.sha256 + ", got " + got +
                         "); nothing changed");
    return;
  }
  // Written on the pool, then the next one.
  std::string dir = downloads_dir_ + "/" + job_->exec.job_id;
  d.file = dir + "/" + std::to_string(job_->next_download) + (d.index < 0 ? ".json" : ".zip");
  asio::post(core_.pool_, [this, alive = alive_, dir, file = d.file, body = std::move(r->body)] {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    Status w;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.close();
    if (!out) w = Status::io("cannot write " + file);
    asio::post(core_.io_, [this, alive, w] {
      if (!*alive || !job_) return;
      if (!w) {
        fail("download", w.message());
        return;
      }
      ++job_->next_download;
      downloadNext();
    });
  });
}

void JobAgent::importAll() {
  if (abandonIfCanceled()) return;
  job_->step = "activate";
  struct Item {
    functions::FunctionConfig cfg;
    std::string version, zip;
  };
  std::vector<Item> items;
  std::string group_file;
  for (const auto& d : job_->downloads) {
    if (d.index < 0) {
      group_file = d.file;
      continue;
    }
    const auto& f = job_->doc.functions[static_cast<size_t>(d.index)];
    Item it;
    it.cfg.name = f.name;
    it.cfg.runtime = f.runtime;
    it.cfg.handler = f.handler;
    it.version = std::to_string(f.version);
    it.zip = d.file;
    items.push_back(std::move(it));
  }
  std::string active_hash = groupHash(group::toJson(core_.policy_->group()));
  bool had_group = std::filesystem::exists(core_.paths_.group_file);
  jobs::InflightJob journal;
  journal.job_id = job_->exec.job_id;
  journal.execution_number = job_->exec.execution_number;
  journal.digest = job_->digest;
  journal.deployment_id = job_->doc.deployment_id;
  journal.rollback_on_failure = job_->doc.rollback_on_failure;
  journal.previous_group_hash = had_group ? active_hash : "";
  journal.step = "activate";
  journal.time = jobs::utcNow();
  std::string region = core_.cfg_.core_thing.region, account = core_.cfg_.core_thing.account;
  asio::post(core_.pool_, [this, alive = alive_, items = std::move(items), group_file, region,
                           account, journal]() mutable {
    Status s;
    for (const auto& it : items) {
      bool changed = false;
      auto v =
          core_.store_->importZipVersion(it.cfg, region, account, it.version, it.zip, &changed);
      if (!v) {
        s = v.status().withContext(it.cfg.name + " version " + it.version + ": ");
        break;
      }
    }
    Result<json> group = json();
    if (s && !group_file.empty()) {
      std::ifstream in(group_file);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      group = parseJson(text);
      if (!group) s = group.status().withContext("groupArtifact: ");
    }
    // The deployment this job replaces: the last successful record of the active group.
    if (s && !journal.previous_group_hash.empty()) {
      auto all = core_.history_->list();
      if (all) {
        for (auto it = all->rbegin(); it != all->rend(); ++it) {
          if (it->succeeded && it->has_group && it->group_hash == journal.previous_group_hash) {
            journal.previous_history_id = it->id;
            break;
          }
        }
      }
    }
    if (s) s = jobs::saveInflight(inflight_path_, journal);
    std::error_code ec;
    std::filesystem::remove_all(downloads_dir_, ec);
    std::optional<json> g;
    if (s && !group_file.empty()) g = std::move(group).value();
    asio::post(core_.io_, [this, alive, s, g = std::move(g), journal]() mutable {
      if (!*alive || !job_) return;
      if (!s) {
        fail("activate", s.message());
        return;
      }
      job_->previous_history_id = journal.previous_history_id;
      job_->previous_group_hash = journal.previous_group_hash;
      activate(std::move(g));
    });
  });
}

void JobAgent::activate(std::optional<json> group_from_artifact) {
  json group = group_from_artifact ? std::move(*group_from_artifact) : *job_->doc.group;
  Core::DeployMeta meta;
  meta.source = "job";
  meta.label = "job " + job_->exec.job_id +
               (job_->doc.deployment_id.empty() ? "" : " (" + job_->doc.deployment_id + ")");
  meta.note = meta.label;
  auto t = Clock::now();
  core_.deploy(std::move(group), meta, [this, alive = alive_, t](Result<json> r) {
    if (!*alive || !job_) return;
    if (!r) {
      fail("activate", "activation refused: " + r.status().message());
      return;
    }
    if (r->contains("deploymentId")) job_->history_id = (*r)["deploymentId"].get<int64_t>();
    log_.info("job " + job_->exec.job_id + ": group active in " +
              std::to_string(msBetween(t, Clock::now())) + " ms; health window " +
              std::to_string(job_->doc.health_window_s) + " s");
    job_->step = "health";
    job_->restarts_at_activation.clear();
    if (core_.host_) {
      for (const auto& f : core_.host_->functionStatus()) {
        job_->restarts_at_activation[f.arn] = f.restarts;
      }
    }
    job_->health_started = Clock::now();
    job_->health_deadline = job_->health_started + std::chrono::seconds(job_->doc.health_window_s);
    healthTick();
  });
}

void JobAgent::healthTick() {
  // Checked every 200 ms through the window: any restart, crash loop or failure is fatal at once.
  std::string problem;
  if (core_.host_) {
    for (const auto& f : core_.host_->functionStatus()) {
      auto base = job_->restarts_at_activation.find(f.arn);
      uint32_t r0 = base == job_->restarts_at_activation.end() ? 0 : base->second;
      if (f.crash_loop) {
        problem = "function " + f.arn + " is in a crash loop";
      } else if (f.restarts > r0) {
        problem = "function " + f.arn + " restarted " + std::to_string(f.restarts - r0) +
                  " time(s) during the health window";
      } else if (f.pinned && f.consecutive_failures > 0) {
        problem = "pinned function " + f.arn + " failed (" +
                  std::to_string(f.consecutive_failures) + " consecutive failures)";
      }
      if (!problem.empty()) break;
    }
  }
  if (!problem.empty()) {
    fail("health", problem);
    return;
  }
  if (Clock::now() < job_->health_deadline) {
    health_timer_.expires_after(std::chrono::milliseconds(200));
    health_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (ec || !*alive || !job_) return;
      healthTick();
    });
    return;
  }
  // End of the window: pinned functions have a live worker; the cloud is connected.
  if (core_.host_) {
    auto workers = core_.host_->workerStatus();
    for (const auto& f : core_.host_->functionStatus()) {
      if (!f.pinned) continue;
      bool up = std::any_of(workers.begin(), workers.end(),
                            [&](const auto& w) { return w.arn == f.arn && w.pid > 0; });
      if (!up) {
        fail("health", "pinned function " + f.arn + " is not running");
        return;
      }
    }
  }
  if (core_.cloud_ && !core_.cloud_->connected()) {
    fail("health", "the cloud connection is down at the end of the health window");
    return;
  }
  json d = baseDetails("done");
  d["rolledBack"] = "false";
  ++stats_.succeeded;
  finish("SUCCEEDED", std::move(d));
}

void JobAgent::fail(const std::string& step, const std::string& reason) {
  log_.warn("job " + job_->exec.job_id + " failed at step " + step + ": " + reason);
  ++stats_.failed;
  bool activated = job_->history_id.has_value();
  if (!activated || !job_->doc.rollback_on_failure) {
    json d = baseDetails(step);
    d["reason"] = reason;
    d["rolledBack"] = "false";
    finish("FAILED", std::move(d));
    return;
  }
  job_->step = "rollback";
  auto done = [this, alive = alive_, step, reason](Result<json> r) {
    if (!*alive || !job_) return;
    json d = baseDetails(step);
    if (r) {
      d["reason"] = reason + "; rolled back";
      d["rolledBack"] = "true";
      if (r->contains("deploymentId")) {
        d["rollbackHistoryId"] = std::to_string((*r)["deploymentId"].get<int64_t>());
      }
    } else {
      d["reason"] = reason + "; rollback failed: " + r.status().message();
      d["rolledBack"] = "false";
    }
    log_.warn("job " + job_->exec.job_id + ": " + d["reason"].get<std::string>());
    finish("FAILED", std::move(d));
  };
  if (job_->previous_group_hash.empty()) {
    core_.reset(std::move(done));  // there was no group before the job
  } else {
    core_.rollback(job_->previous_history_id, std::move(done));
  }
}

void JobAgent::finish(const std::string& status, json details, bool send) {
  auto end = Clock::now();
  if (job_->health_started.time_since_epoch().count() != 0 && status == "SUCCEEDED") {
    int64_t total = msBetween(job_->doc_arrived, end);
    int64_t dl = msBetween(job_->download_started, job_->download_done);
    int64_t window = msBetween(job_->health_started, job_->health_deadline);
    stats_.last = {{"jobId", job_->exec.job_id},  {"status", status},
                   {"documentToResultMs", total}, {"downloadMs", dl},
                   {"healthWindowMs", window},    {"applyMs", total - dl - window}};
    log_.info("job " + job_->exec.job_id + " SUCCEEDED: " + std::to_string(total) +
              " ms after the document (download " + std::to_string(dl) + " ms, health window " +
              std::to_string(window) + " ms, apply + checks " +
              std::to_string(total - dl - window) + " ms)");
  } else {
    stats_.last = {{"jobId", job_->exec.job_id}, {"status", status}};
  }
  jobs::HandledExecution h;
  h.job_id = job_->exec.job_id;
  h.execution_number = job_->exec.execution_number;
  h.digest = job_->digest;
  h.status = status;
  h.details = jobs::sanitizeStatusDetails(details);
  h.time = jobs::utcNow();
  h.reported = !send;  // a canceled execution cannot take an update any more
  state_.put(h);
  jobs::JobsState snapshot = state_;
  int64_t version = job_->exec.version_number;
  std::string inflight = inflight_path_;
  asio::post(core_.pool_, [this, alive = alive_, snapshot, inflight, h, version, send] {
    Status s = snapshot.save();
    Status r = jobs::removeInflight(inflight);
    asio::post(core_.io_, [this, alive, s, r, h, version, send] {
      if (!*alive) return;
      if (!s) log_.error("jobs-state.json not saved: " + s.message());
      if (!r) log_.error("job journal not removed: " + r.message());
      job_.reset();
      if (send) report(h, version);
      client_.startNext(nowMs());
      pump();
    });
  });
}

void JobAgent::onUpdated(const std::string& job_id, const std::string& status, Status s) {
  if (!s) {
    log_.warn("job " + job_id + ": update " + status + " not accepted: " + s.message());
    if (status == "IN_PROGRESS" && job_ && job_->exec.job_id == job_id &&
        (s.code() == Code::kConflict || s.code() == Code::kNotFound)) {
      job_->canceled = true;  // terminal in the cloud (canceled, timed out) or removed
    }
    return;
  }
  if (status == "IN_PROGRESS") return;
  log_.info("job " + job_id + ": " + status + " accepted by the cloud");
  bool changed = false;
  for (const auto& e : state_.all()) {
    if (e.job_id == job_id && e.status == status && !e.reported) {
      changed = state_.markReported(job_id, e.execution_number);
      break;
    }
  }
  if (!changed) return;
  jobs::JobsState snapshot = state_;
  asio::post(core_.pool_, [this, alive = alive_, snapshot] {
    Status s2 = snapshot.save();
    asio::post(core_.io_, [this, alive, s2] {
      if (*alive && !s2) log_.error("jobs-state.json not saved: " + s2.message());
    });
  });
}

void JobAgent::recover(const jobs::InflightJob& j) {
  ++stats_.recovered;
  if (state_.find(j.job_id, j.execution_number)) {
    (void)jobs::removeInflight(inflight_path_);  // its result was recorded
    return;
  }
  std::string active = groupHash(group::toJson(core_.policy_->group()));
  bool changed = active != j.previous_group_hash;
  log_.warn("job " + j.job_id + " was interrupted at step " + j.step +
            " by a restart of the core; " +
            (changed && j.rollback_on_failure ? "rolling back to the previous deployment"
                                              : "its result is FAILED"));
  auto record = [this, j](json d) {
    jobs::HandledExecution h;
    h.job_id = j.job_id;
    h.execution_number = j.execution_number;
    h.digest = j.digest;
    h.status = "FAILED";
    if (!j.deployment_id.empty()) d["deploymentId"] = j.deployment_id;
    h.details = jobs::sanitizeStatusDetails(d);
    h.time = jobs::utcNow();
    state_.put(h);
    // Saved, then the journal removed, on the pool (a crash in between: recovered again, and
    // the previous deployment is then found active).
    asio::post(core_.pool_, [this, alive = alive_, snapshot = state_] {
      Status s = snapshot.save();
      if (s) s = jobs::removeInflight(inflight_path_);
      asio::post(core_.io_, [this, alive, s] {
        if (*alive && !s) log_.error("job recovery not recorded: " + s.message());
      });
    });
    // Reported when the execution comes back through start-next (it is still IN_PROGRESS).
    if (recovering_) {
      recovering_ = false;
      client_.startNext(nowMs());
      pump();
    }
  };
  std::string why = "the core restarted during step " + j.step;
  if (!changed || !j.rollback_on_failure) {
    record({{"reason", why + (changed ? "; new group left active (failurePolicy leave)"
                                      : "; the previous deployment is still active")},
            {"step", j.step},
            {"rolledBack", "false"}});
    return;
  }
  recovering_ = true;
  recovering_job_ = j.job_id;
  auto done = [this, alive = alive_, why, record, step = j.step](Result<json> r) {
    if (!*alive) return;
    if (r) {
      record({{"reason", why + "; rolled back"}, {"step", step}, {"rolledBack", "true"}});
    } else {
      record({{"reason", why + "; rollback failed: " + r.status().message()},
              {"step", step},
              {"rolledBack", "false"}});
    }
  };
  if (j.previous_group_hash.empty()) {
    core_.reset(std::move(done));
  } else {
    core_.rollback(j.previous_history_id, std::move(done));
  }
}

}  // namespace evg::daemon
