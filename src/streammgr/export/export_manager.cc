#include "streammgr/export/export_manager.h"

#include <algorithm>
#include <deque>
#include <set>

namespace evg::streammgr::exporter {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Verdict of one request over the entries it carried.
struct ExportManager::Outcome {
  // kDeferred: not sent this time (stays pending, no backoff).
  enum Verdict : uint8_t { kAccepted, kRetry, kSkipped, kDeferred };
  Status failed;                 // the whole request failed (nothing accepted)
  std::vector<Verdict> verdict;  // per entry sent (when !failed)
  std::string error;             // first per-entry error (entries to send again)
  std::string skipped;           // why the first skipped entry was skipped
};

struct ExportManager::Pipeline {
  enum State : uint8_t { kPending, kAccepted, kSkipped };
  struct Entry {
    StoredMessage msg;
    State state = kPending;
  };
  std::string stream;
  ExporterConfig cfg;
  HttpTarget http;          // HTTP exporter
  int64_t next = 0;         // next sequence number to read
  std::deque<Entry> batch;  // read, not yet committed, in order
  size_t batchBytes = 0;
  bool sentOnce = false;  // the batch went out at least once (no more topping up)
  bool inFlight = false;
  bool removed = false;
  Clock::time_point retryAt{};
  uint32_t backoffMs = 0;
  std::string skipReport;  // the last message skipped for good (kept once the service is fine)
  int64_t s3InProgressFor = -1;  // S3: InProgress already reported for this sequence number
  ExportStatus status;
};

Result<std::unique_ptr<ExportManager>> ExportManager::create(asio::io_context& io,
                                                             StreamAccess& store,
                                                             aws::HttpClient& http,
                                                             aws::CredentialsSource& creds,
                                                             ExportOptions opts, Log log) {
  std::unique_ptr<ExportManager> m(
      new ExportManager(io, store, http, creds, std::move(opts), std::move(log)));
  auto make = [&](const char* service, const char* signing, std::string deflt, bool s3,
                  std::unique_ptr<aws::AwsClient>* out) -> Status {
    auto it = m->opts_.endpoints.find(service);
    std::string url = it != m->opts_.endpoints.end() && !it->second.empty() ? it->second : deflt;
    auto ep = aws::serviceEndpoint(signing, m->opts_.region, url);
    if (!ep) return ep.status().withContext(std::string("endpoints.") + service + ": ");
    *out = std::make_unique<aws::AwsClient>(
        http, creds, aws::ServiceConfig{signing, m->opts_.region, std::move(*ep), s3});
    return Status::ok();
  };
  std::string region = m->opts_.region;
  std::string suffix = region.rfind("cn-", 0) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
  EVG_RETURN_IF_ERROR(make("kinesis", "kinesis", "", false, &m->kinesis_));
  EVG_RETURN_IF_ERROR(make("iotanalytics", "iotanalytics", "", false, &m->iota_));
  EVG_RETURN_IF_ERROR(make("iotsitewise", "iotsitewise",
                           "https://data.iotsitewise." + region + "." + suffix, false,
                           &m->sitewise_));
  EVG_RETURN_IF_ERROR(make("s3", "s3", "", true, &m->s3_));
  if (m->opts_.maxInFlight == 0) m->opts_.maxInFlight = 1;
  return m;
}

ExportManager::ExportManager(asio::io_context& io, StreamAccess& store, aws::HttpClient& http,
                             aws::CredentialsSource&, ExportOptions opts, Log log)
    : io_(io),
      store_(store),
      http_(http),
      opts_(std::move(opts)),
      log_(std::move(log)),
      timer_(io),
      rng_(std::random_device{}()) {}

ExportManager::~ExportManager() { stop(); }

void ExportManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  timer_.cancel();
}

size_t ExportManager::pipelines() const { return order_.size(); }

Status ExportManager::configure(const std::string& stream, const json& exportDefinition) {
  auto parsed = parseExportDefinition(exportDefinition);
  if (!parsed) return parsed.status();
  std::vector<HttpTarget> targets(parsed->size());
  for (size_t i = 0; i < parsed->size(); ++i) {
    const auto& c = (*parsed)[i];
    if (c.kind != Kind::kHttp) continue;
    auto t = parseHttpUri(c.uri);
    if (!t) {
      return Status::invalid("exportDefinition.http (" + c.identifier +
                             ").uri: " + t.status().message());
    }
    targets[i] = std::move(*t);
  }
  auto& old = streams_[stream];
  std::vector<std::shared_ptr<Pipeline>> now;
  for (size_t i = 0; i < parsed->size(); ++i) {
    auto& c = (*parsed)[i];
    std::shared_ptr<Pipeline> p;
    for (auto& o : old) {
      if (o && o->cfg.identifier == c.identifier && o->cfg.kind == c.kind) {
        p = o;
        o.reset();
        break;
      }
    }
    if (!p) {
      p = std::make_shared<Pipeline>();
      p->stream = stream;
      p->status.exportConfigIdentifier = c.identifier;
      if (auto saved = store_.loadProgress(stream, c.identifier)) {
        p->next = *saved;
        p->status.lastExportedSequenceNumber = *saved - 1;
      } else if (c.startSequenceNumber) {
        p->next = *c.startSequenceNumber;
      } else {
        p->next = store_.oldestSequence(stream).value_or(0);
      }
      log_.info("stream " + stream + ": exporter " + std::string(kindName(c.kind)) + " \"" +
                c.identifier + "\" starts at sequence number " + std::to_string(p->next));
    }
    p->cfg = std::move(c);
    p->http = std::move(targets[i]);
    now.push_back(std::move(p));
  }
  for (auto& o : old) {
    if (o) o->removed = true;
  }
  if (now.empty()) {
    streams_.erase(stream);
  } else {
    old = std::move(now);
  }
  rebuildOrder();
  schedulePump();
  return Status::ok();
}

void ExportManager::removeStream(const std::string& stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  for (auto& p : it->second) p->removed = true;
  streams_.erase(it);
  rebuildOrder();
}

void ExportManager::onAppended(const std::string& stream, int64_t) {
  if (streams_.count(stream)) schedulePump();
}

std::vector<ExportStatus> ExportManager::statuses(const std::string& stream) const {
  std::vector<ExportStatus> out;
  auto it = streams_.find(stream);
  if (it == streams_.end()) return out;
  for (const auto& p : it->second) out.push_back(p->status);
  return out;
}

void ExportManager::rebuildOrder() {
  order_.clear();
  for (auto& [name, ps] : streams_) {
    for (auto& p : ps) order_.push_back(p);
  }
  std::stable_sort(order_.begin(), order_.end(),
                   [](const auto& a, const auto& b) { return a->cfg.priority < b->cfg.priority; });
}

void ExportManager::schedulePump() {
  if (pump_posted_ || stopped_) return;
  pump_posted_ = true;
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    pump_posted_ = false;
    pump();
  });
}

void ExportManager::arm(Clock::time_point at) {
  if (timer_armed_ && timer_at_ <= at) return;
  timer_armed_ = true;
  timer_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    timer_armed_ = false;
    pump();
  });
}

void ExportManager::fill(Pipeline& p) {
  if (p.sentOnce || p.batch.size() >= p.cfg.batchSize || p.batchBytes >= opts_.maxBatchBytes) {
    return;
  }
  auto newest = store_.newestSequence(p.stream);
  if (!newest || *newest < p.next) return;
  auto got =
      store_.read(p.stream, p.next, p.cfg.batchSize - p.batch.size(),
                  p.batch.empty() ? opts_.maxBatchBytes : opts_.maxBatchBytes - p.batchBytes);
  if (!got) {
    if (p.status.errorMessage.empty()) p.status.errorMessage = got.status().message();
    return;
  }
  for (auto& m : *got) {
    if (m.sequenceNumber < p.next) continue;
    p.next = m.sequenceNumber + 1;
    p.batchBytes += m.payload.size();
    p.batch.push_back({std::move(m), Pipeline::kPending});
  }
}

void ExportManager::pump() {
  if (stopped_) return;
  auto now = Clock::now();
  int64_t wallMs = nowMs();
  for (auto& p : order_) {
    if (in_flight_ >= opts_.maxInFlight) break;
    if (p->cfg.disabled || p->inFlight || p->removed) continue;
    if (now < p->retryAt) {
      arm(p->retryAt);
      continue;
    }
    fill(*p);
    if (p->batch.empty()) continue;
    if (!p->sentOnce && p->cfg.batchIntervalMs > 0 && p->batch.size() < p->cfg.batchSize &&
        p->batchBytes < opts_.maxBatchBytes) {
      int64_t due = p->batch.front().msg.ingestTimeMs + p->cfg.batchIntervalMs;
      if (wallMs < due) {
        arm(now + std::chrono::milliseconds(due - wallMs));
        continue;
      }
    }
    std::vector<size_t> idx;
    size_t bytes = 0;
    bool single = p->cfg.kind == Kind::kS3Task ||
                  (p->cfg.kind == Kind::kHttp && p->cfg.httpFormat == HttpFormat::kRawNotBatched);
    for (size_t i = 0; i < p->batch.size(); ++i) {
      if (p->batch[i].state != Pipeline::kPending) continue;
      idx.push_back(i);
      bytes += p->batch[i].msg.payload.size();
      if (single) break;
    }
    if (idx.empty()) continue;
    if (opts_.maxBandwidthBytesPerSec > 0) {
      if (now < bw_free_) {
        arm(bw_free_);
        break;  // the bandwidth goes to this (higher priority) exporter first
      }
      bw_free_ = std::max(bw_free_, now) + std::chrono::nanoseconds(static_cast<int64_t>(
                                               static_cast<double>(bytes) * 1e9 /
                                               static_cast<double>(opts_.maxBandwidthBytesPerSec)));
    }
    send(p, std::move(idx));
  }
}

void ExportManager::send(const std::shared_ptr<Pipeline>& p, std::vector<size_t> idx) {
  p->inFlight = true;
  p->sentOnce = true;
  ++in_flight_;
  std::weak_ptr<Pipeline> weak = p;
  auto finish = [this, weak, alive = alive_, idx](Outcome o) {
    if (!*alive) return;
    --in_flight_;
    if (auto pp = weak.lock()) {
      pp->inFlight = false;
      if (!pp->removed) onOutcome(*pp, idx, o);
    }
    schedulePump();
  };
  // Entries that can never be sent are skipped before the request.
  Outcome pre;
  pre.verdict.assign(idx.size(), Outcome::kAccepted);
  std::vector<size_t> send;  // positions in idx actually sent
  std::vector<const StoredMessage*> msgs;
  std::vector<json> entries;
  std::set<std::string> entryIds;
  bool deferRest = false;
  size_t limit = maxRecordBytes(p->cfg.kind);
  for (size_t k = 0; k < idx.size(); ++k) {
    const StoredMessage& m = p->batch[idx[k]].msg;
    if (deferRest) {
      pre.verdict[k] = Outcome::kDeferred;
      continue;
    }
    std::string why;
    if (limit && m.payload.size() > limit) {
      why = "message " + std::to_string(m.sequenceNumber) +
            " skipped: " + std::to_string(m.payload.size()) +
            " bytes, above the service's limit of " + std::to_string(limit);
    } else if (p->cfg.kind == Kind::kIotSitewise) {
      auto e = sitewiseEntry(m.payload);
      if (!e) {
        why = "message " + std::to_string(m.sequenceNumber) + " skipped: " + e.status().message();
      } else if (!entryIds.insert((*e)["entryId"].get<std::string>()).second) {
        // SiteWise refuses a request repeating an entryId: the rest goes in the next one.
        deferRest = true;
        pre.verdict[k] = Outcome::kDeferred;
        continue;
      } else {
        entries.push_back(std::move(*e));
      }
    }
    if (!why.empty()) {
      pre.verdict[k] = Outcome::kSkipped;
      if (pre.skipped.empty()) pre.skipped = why;
      log_.warn("stream " + p->stream + " exporter " + p->cfg.identifier + ": " + why);
      continue;
    }
    send.push_back(k);
    msgs.push_back(&m);
  }
  if (send.empty() && p->cfg.kind != Kind::kS3Task) {
    asio::post(io_, [finish, pre] { finish(pre); });
    return;
  }
  // Merges the service's verdict on the entries sent into `pre`.
  auto merge = [pre, send](Result<BatchResult> r, Outcome* o) {
    *o = pre;
    if (!r) {
      o->failed = r.status();
      return;
    }
    for (size_t j = 0; j < send.size() && j < r->accepted.size(); ++j) {
      if (!r->accepted[j]) o->verdict[send[j]] = Outcome::kRetry;
    }
    if (!r->error.empty()) o->error = r->error;
  };
  switch (p->cfg.kind) {
    case Kind::kKinesis: {
      size_t n = msgs.size();
      kinesis_->call(kinesisPutRecords(p->cfg.kinesisStreamName, msgs, rng_),
                     [finish, merge, n](Result<aws::HttpResponse> r) {
                       Outcome o;
                       merge(r ? parseKinesisPutRecords(*r, n) : Result<BatchResult>(r.status()),
                             &o);
                       finish(std::move(o));
                     });
      return;
    }
    case Kind::kIotAnalytics: {
      std::vector<std::string> ids;
      for (const auto* m : msgs) {
        ids.push_back(iotAnalyticsMessageId(p->cfg.iotMsgIdPrefix, m->sequenceNumber));
      }
      iota_->call(iotAnalyticsBatchPut(p->cfg.iotChannel, p->cfg.iotMsgIdPrefix, msgs),
                  [finish, merge, ids](Result<aws::HttpResponse> r) {
                    Outcome o;
                    merge(r ? parseIotAnalyticsBatchPut(*r, ids) : Result<BatchResult>(r.status()),
                          &o);
                    finish(std::move(o));
                  });
      return;
    }
    case Kind::kIotSitewise: {
      std::vector<std::string> ids;
      for (const auto& e : entries) ids.push_back(e["entryId"].get<std::string>());
      sitewise_->call(sitewiseBatchPut(entries), [finish, merge, ids](Result<aws::HttpResponse> r) {
        Outcome o;
        merge(r ? parseSitewiseBatchPut(*r, ids) : Result<BatchResult>(r.status()), &o);
        finish(std::move(o));
      });
      return;
    }
    case Kind::kHttp: {
      size_t n = msgs.size();
      http_.send(p->http.endpoint, httpExport(p->http, p->cfg.httpFormat, msgs),
                 [finish, merge, n](Result<aws::HttpResponse> r) {
                   Outcome o;
                   if (r && (r->status < 200 || r->status > 299)) {
                     merge(Status::retry(describeHttpFailure(*r)), &o);
                   } else if (r) {
                     merge(BatchResult{std::vector<bool>(n, true), ""}, &o);
                   } else {
                     merge(r.status(), &o);
                   }
                   finish(std::move(o));
                 });
      return;
    }
    case Kind::kS3Task:
      sendS3(p, idx[0], finish);
      return;
  }
}

void ExportManager::appendStatus(Pipeline& p, TaskStatus s, const json& def, int64_t seq,
                                 const std::string& message) {
  if (!p.cfg.statusLevel || static_cast<int>(levelOf(s)) > static_cast<int>(*p.cfg.statusLevel)) {
    return;
  }
  auto r =
      store_.append(p.cfg.statusStreamName,
                    statusMessageJson(s, def, p.cfg.identifier, p.stream, seq, message, nowMs()));
  if (!r) {
    log_.warn("stream " + p.stream + " exporter " + p.cfg.identifier +
              ": cannot append to status stream " + p.cfg.statusStreamName + ": " +
              r.status().message());
  }
}

void ExportManager::sendS3(const std::shared_ptr<Pipeline>& p, size_t i,
                           std::function<void(Outcome)> finish) {
  const StoredMessage& m = p->batch[i].msg;
  int64_t seq = m.sequenceNumber;
  auto task = parseS3Task(m.payload);
  if (!task) {
    std::string why = "message " + std::to_string(seq) + " skipped: " + task.status().message();
    appendStatus(*p, TaskStatus::kFailure, json(), seq, why);
    Outcome o;
    o.verdict = {Outcome::kSkipped};
    o.skipped = why;
    asio::post(io_, [finish, o] { finish(o); });
    return;
  }
  json def = task->definition;
  if (p->s3InProgressFor != seq) {
    p->s3InProgressFor = seq;
    appendStatus(*p, TaskStatus::kInProgress, def, seq, "");
  }
  S3Limits limits = opts_.s3;
  limits.multipartThresholdBytes = p->cfg.multipartThresholdBytes;
  std::weak_ptr<Pipeline> weak = p;
  runS3Upload(*s3_, std::move(*task), limits,
              [this, weak, alive = alive_, finish, def, seq](S3Outcome r) {
                if (!*alive) return;
                Outcome o;
                auto pp = weak.lock();
                if (r.kind == S3Outcome::kRetry) {
                  o.failed = Status::retry(r.message);
                } else if (r.kind == S3Outcome::kDone) {
                  o.verdict = {Outcome::kAccepted};
                  if (pp) appendStatus(*pp, TaskStatus::kSuccess, def, seq, "");
                } else {
                  o.verdict = {Outcome::kSkipped};
                  o.skipped = "message " + std::to_string(seq) + ": " + r.message;
                  if (pp) appendStatus(*pp, TaskStatus::kFailure, def, seq, r.message);
                }
                finish(std::move(o));
              });
}

void ExportManager::backoff(Pipeline& p, const std::string& why) {
  p.backoffMs = p.backoffMs == 0 ? opts_.retryInitialMs
                                 : std::min<uint32_t>(opts_.retryMaxMs, p.backoffMs * 2);
  // Equal jitter: half fixed, half random.
  uint32_t wait = p.backoffMs / 2 + static_cast<uint32_t>(rng_() % (p.backoffMs / 2 + 1));
  p.retryAt = Clock::now() + std::chrono::milliseconds(wait);
  if (p.status.errorMessage != why) {
    log_.warn("stream " + p.stream + " exporter " + p.cfg.identifier + ": " + why +
              " (retrying in " + std::to_string(wait) + " ms)");
  }
  p.status.errorMessage = why;
}

void ExportManager::onOutcome(Pipeline& p, const std::vector<size_t>& idx, const Outcome& o) {
  if (!o.failed.isOk()) {
    backoff(p, o.failed.message());
    return;
  }
  bool retry = false;
  for (size_t k = 0; k < idx.size() && k < o.verdict.size(); ++k) {
    auto& e = p.batch[idx[k]];
    switch (o.verdict[k]) {
      case Outcome::kAccepted:
        e.state = Pipeline::kAccepted;
        p.status.exportedMessagesCount += 1;
        p.status.exportedBytesFromStream += static_cast<int64_t>(e.msg.payload.size());
        break;
      case Outcome::kSkipped:
        e.state = Pipeline::kSkipped;
        break;
      case Outcome::kRetry:
        retry = true;
        break;
      case Outcome::kDeferred:
        break;
    }
  }
  int64_t last = -1;
  while (!p.batch.empty() && p.batch.front().state != Pipeline::kPending) {
    last = p.batch.front().msg.sequenceNumber;
    p.batchBytes -= p.batch.front().msg.payload.size();
    p.batch.pop_front();
  }
  if (p.batch.empty()) {
    p.sentOnce = false;
    p.batchBytes = 0;
  }
  if (last >= 0) {
    p.status.lastExportedSequenceNumber = last;
    p.status.lastExportTimeMs = nowMs();
    Status s = store_.saveProgress(p.stream, p.cfg.identifier, last + 1);
    if (!s) {
      log_.warn("stream " + p.stream + " exporter " + p.cfg.identifier +
                ": cannot save progress: " + s.message());
    }
  }
  if (!o.skipped.empty()) p.skipReport = o.skipped;
  if (retry) {
    backoff(p, o.error);
    return;
  }
  if (p.backoffMs != 0) {
    log_.info("stream " + p.stream + " exporter " + p.cfg.identifier + ": exporting again");
  }
  p.backoffMs = 0;
  p.status.errorMessage = p.skipReport;
}

}  // namespace evg::streammgr::exporter
