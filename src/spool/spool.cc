#include "spool/spool.h"

#include <utility>

namespace evg::spool {

namespace asio = boost::asio;

Result<StorageType> parseStorageType(std::string_view s) {
  if (s == "Memory") return StorageType::kMemory;
  if (s == "FileSystem") return StorageType::kFileSystem;
  return Status::invalid("expected \"Memory\" or \"FileSystem\", got \"" + std::string(s) + "\"");
}

std::string_view storageTypeName(StorageType t) {
  return t == StorageType::kMemory ? "Memory" : "FileSystem";
}

Spool::Spool(asio::io_context& io, SpoolOptions opts, Log log)
    : io_(io),
      opts_(std::move(opts)),
      log_(std::move(log)),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {}

Spool::~Spool() {
  *alive_ = false;
  timer_.cancel();
  pool_.join();
  // Clean shutdown: whatever is still pending is committed before the store closes.
  if (store_ && !pending_.empty()) {
    Status s = store_->commit(pending_);
    if (!s) log_.error("spool: final commit failed: " + s.message());
  }
}

Status Spool::open() {
  if (opts_.storage == StorageType::kMemory) {
    log_.info("cloud spool: Memory storage, " + std::to_string(opts_.max_size_bytes) +
              " bytes (lost on restart)");
    return Status::ok();
  }
  auto st = SqliteStore::open(opts_.path, opts_.sync);
  if (!st) return st.status();
  store_ = std::move(st).value();
  if (!store_->moved_aside().empty()) {
    stats_.moved_aside = store_->moved_aside();
    log_.error("cloud spool: the store " + opts_.path + " is corrupt (" +
               store_->corruption_reason() + "): moved aside to " + store_->moved_aside() +
               "; continuing with a fresh, empty spool");
  }
  auto all = store_->loadAll();
  if (!all) return all.status();
  for (auto& m : *all) {
    SpoolEntry e{m.seq, std::move(m.topic), std::move(m.payload)};
    stats_.bytes += e.bytes();
    next_seq_ = m.seq + 1;
    entries_.emplace(e.seq, std::move(e));
  }
  stats_.loaded = entries_.size();
  stats_.queued = entries_.size();
  stats_.last_seq = next_seq_ - 1;
  stats_.persisted_seq = next_seq_ - 1;
  cursor_ = entries_.empty() ? next_seq_ : entries_.begin()->first;
  log_.info("cloud spool: FileSystem storage " + opts_.path + ", " +
            std::to_string(opts_.max_size_bytes) + " bytes, group commit every " +
            std::to_string(opts_.flush_interval_ms) + " ms; " + std::to_string(stats_.loaded) +
            " messages restored");
  // A lowered bound applies to what was restored too.
  while (stats_.bytes > opts_.max_size_bytes && !entries_.empty()) dropOldest();
  return Status::ok();
}

double Spool::oldestAgeSeconds() const {
  if (entries_.empty()) return 0.0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       entries_.begin()->second.enqueued)
      .count();
}

uint64_t Spool::append(std::string topic, std::shared_ptr<const std::string> payload) {
  SpoolEntry e{0, std::move(topic), std::move(payload)};
  size_t n = e.bytes();
  if (n > opts_.max_size_bytes) {
    ++stats_.dropped_too_large;
    log_.warn("cloud spool: message on '" + e.topic + "' (" + std::to_string(n) +
              " bytes) is larger than the spool (" + std::to_string(opts_.max_size_bytes) +
              " bytes): dropped");
    return 0;
  }
  while (stats_.bytes + n > opts_.max_size_bytes && !entries_.empty()) dropOldest();
  e.seq = next_seq_++;
  stats_.bytes += n;
  ++stats_.appended;
  stats_.last_seq = e.seq;
  if (store_) {
    pending_.inserts.push_back(StoredMessage{e.seq, e.topic, e.payload});
    pending_last_seq_ = e.seq;
  }
  uint64_t seq = e.seq;
  entries_.emplace(seq, std::move(e));
  stats_.queued = entries_.size();
  noteOp();
  return seq;
}

void Spool::dropOldest() {
  auto it = entries_.begin();
  stats_.bytes -= it->second.bytes();
  ++stats_.dropped_oldest;
  // Log the first drop and then every 1000th, so a long outage cannot flood the log.
  if (stats_.dropped_oldest % 1000 == 1) {
    log_.warn("cloud spool full (" + std::to_string(opts_.max_size_bytes) +
              " bytes): dropping the oldest message (seq " + std::to_string(it->first) + ", '" +
              it->second.topic + "'); " + std::to_string(stats_.dropped_oldest) +
              " dropped so far");
  }
  if (store_) pending_.deletes.push_back(it->first);
  if (cursor_ <= it->first) cursor_ = it->first + 1;
  entries_.erase(it);
  stats_.queued = entries_.size();
  noteOp();
}

const SpoolEntry* Spool::nextUnsent() const {
  auto it = entries_.lower_bound(cursor_);
  return it == entries_.end() ? nullptr : &it->second;
}

void Spool::markSent(uint64_t seq) {
  if (seq >= cursor_) cursor_ = seq + 1;
}

bool Spool::ack(uint64_t seq) {
  auto it = entries_.find(seq);
  if (it == entries_.end()) return false;
  stats_.bytes -= it->second.bytes();
  entries_.erase(it);
  ++stats_.acked;
  stats_.queued = entries_.size();
  if (store_) {
    pending_.deletes.push_back(seq);
    noteOp();
  }
  return true;
}

size_t Spool::rewind() {
  size_t sent = entries_.size() - unsent();
  cursor_ = entries_.empty() ? next_seq_ : entries_.begin()->first;
  return sent;
}

size_t Spool::unsent() const {
  size_t n = 0;
  for (auto it = entries_.lower_bound(cursor_); it != entries_.end(); ++it) ++n;
  return n;
}

void Spool::setMaxSizeBytes(size_t max_bytes) {
  opts_.max_size_bytes = max_bytes;
  while (stats_.bytes > opts_.max_size_bytes && !entries_.empty()) dropOldest();
}

void Spool::noteOp() {
  if (!store_ || pending_.empty()) return;
  if (commit_running_) return;  // the running commit re-arms when it completes
  if (pending_.size() >= opts_.max_batch) {
    startCommit();
    return;
  }
  if (timer_armed_) return;
  timer_armed_ = true;
  timer_.expires_after(std::chrono::milliseconds(opts_.flush_interval_ms));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive) return;
    timer_armed_ = false;
    if (ec) return;
    if (!commit_running_) startCommit();
  });
}

void Spool::startCommit() {
  if (timer_armed_) {
    timer_.cancel();  // handler sees operation_aborted and only clears timer_armed_
  }
  auto batch = std::make_shared<StoreBatch>(std::move(pending_));
  pending_ = StoreBatch();
  uint64_t upto = pending_last_seq_;
  commit_running_ = true;
  auto waiters = std::make_shared<std::vector<std::function<void()>>>(std::move(flush_waiters_));
  flush_waiters_.clear();
  SqliteStore* store = store_.get();
  // The work guard keeps io_.run() alive while the commit is on the pool.
  asio::post(pool_, [this, alive = alive_, store, batch, upto, waiters,
                     work = asio::make_work_guard(io_)]() {
    Status s = store->commit(*batch);
    asio::post(io_, [this, alive, s = std::move(s), upto, waiters]() {
      if (!*alive) return;
      commit_running_ = false;
      ++stats_.commits;
      if (s) {
        if (upto > stats_.persisted_seq) stats_.persisted_seq = upto;
      } else {
        ++stats_.store_errors;
        log_.error("cloud spool: commit failed (messages stay queued in memory): " + s.message());
      }
      for (auto& w : *waiters) w();
      if (!pending_.empty() || !flush_waiters_.empty()) {
        if (!flush_waiters_.empty() || pending_.size() >= opts_.max_batch) {
          startCommit();
        } else {
          noteOp();
        }
      }
    });
  });
}

void Spool::flush(std::function<void()> done) {
  if (!store_) {
    if (done) asio::post(io_, std::move(done));
    return;
  }
  if (done) flush_waiters_.push_back(std::move(done));
  if (!commit_running_) startCommit();
}

}  // namespace evg::spool
