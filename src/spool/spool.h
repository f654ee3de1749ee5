#pragma once
// Spool: the cloud spooler's queue. A bounded FIFO of (topic, payload) messages bound for the
// cloud, mirrored in memory (the drain reads from memory) and, with StorageType::kFileSystem,
// persisted in a SqliteStore by group commit on a private pool thread (never on the loop):
//
//   append()  -> memory + pending batch --(flush_interval_ms or max_batch)--> pool: commit
//   ack(seq)  -> removed from memory + pending delete (a message leaves only after its PUBACK)
//   full      -> the oldest messages are dropped (counted in stats, logged, deleted on disk)
//
// Drain cursor: nextUnsent() returns the oldest message not yet handed to the connection;
// markSent() advances past it; rewind() (on reconnect) makes every unacknowledged message
// unsent again, so they go out again in seq order (at-least-once; resends counted).
//
// Durability: a message is on disk (survives kill -9) at most flush_interval_ms (+ commit time)
// after append(); stats().persisted_seq tells how far. See README.md.
//
// Thread contract: every method runs on the io_context's loop thread; the store is touched only
// from the pool thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"
#include "spool/sqlite_store.h"

namespace evg::spool {

enum class StorageType { kMemory, kFileSystem };

// v1 GG_CONFIG_STORAGE_TYPE values: "Memory" | "FileSystem".
Result<StorageType> parseStorageType(std::string_view s);
std::string_view storageTypeName(StorageType t);

inline constexpr size_t kDefaultMaxSizeBytes = 2'621'440;  // v1: 2.5 MB
inline constexpr size_t kMinMaxSizeBytes = 262'144;        // v1: 256 KB

struct SpoolOptions {
  StorageType storage = StorageType::kFileSystem;
  std::string path;                              // kFileSystem: the SQLite file
  size_t max_size_bytes = kDefaultMaxSizeBytes;  // topic + payload bytes of queued messages
  int flush_interval_ms = 10;                    // group commit: bound on the unpersisted window
  size_t max_batch = 2048;                       // commit early when this many ops are pending
  SyncMode sync = SyncMode::kNormal;
};

struct SpoolStats {
  size_t queued = 0;  // messages in the spool (sent or not, unacknowledged)
  size_t bytes = 0;
  uint64_t appended = 0;
  uint64_t acked = 0;
  uint64_t dropped_oldest = 0;     // evicted because the spool was full
  uint64_t dropped_too_large = 0;  // a single message over max_size_bytes
  uint64_t loaded = 0;             // restored from disk at open()
  uint64_t commits = 0;
  uint64_t store_errors = 0;
  uint64_t last_seq = 0;       // seq of the last appended message
  uint64_t persisted_seq = 0;  // every append up to this seq is committed (FileSystem)
  std::string moved_aside;     // a corrupt store was moved here at open()
};

struct SpoolEntry {
  uint64_t seq = 0;
  std::string topic;
  std::shared_ptr<const std::string> payload;
  // When this process queued it (restored entries: when the spool was opened).
  std::chrono::steady_clock::time_point enqueued = std::chrono::steady_clock::now();
  size_t bytes() const { return topic.size() + (payload ? payload->size() : 0); }
};

class Spool {
 public:
  Spool(boost::asio::io_context& io, SpoolOptions opts, Log log);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Opens the store and loads what it holds (blocking; called once at startup before traffic).
  // A corrupt store is moved aside and reported (error log + stats), and the spool starts empty:
  // that is not an error. Io failures are returned.
  Status open();

  // Queues a message; drops the oldest first when it would not fit. Returns its seq, or 0 when
  // the message alone is larger than max_size_bytes (dropped and counted).
  uint64_t append(std::string topic, std::shared_ptr<const std::string> payload);

  // Drain side.
  const SpoolEntry* nextUnsent() const;
  void markSent(uint64_t seq);
  // The message is delivered: remove it. False when it is no longer queued (dropped meanwhile).
  bool ack(uint64_t seq);
  // Every unacknowledged message becomes unsent again (reconnect). Returns how many were sent.
  size_t rewind();
  size_t unsent() const;

  // Changes the size bound (deploy); drops the oldest if now over it.
  void setMaxSizeBytes(size_t max_bytes);

  // Commits whatever is pending now; `done` runs on the loop after the commit.
  void flush(std::function<void()> done = {});

  const SpoolStats& stats() const { return stats_; }
  // Age of the oldest queued message in seconds (0 when empty): the spool's backlog in time.
  double oldestAgeSeconds() const;
  const SpoolOptions& options() const { return opts_; }

 private:
  void dropOldest();
  void noteOp();
  void startCommit();

  boost::asio::io_context& io_;
  SpoolOptions opts_;
  Log log_;
  std::map<uint64_t, SpoolEntry> entries_;
  uint64_t next_seq_ = 1;
  uint64_t cursor_ = 1;  // entries with seq < cursor_ have been handed to the connection
  SpoolStats stats_;
  std::unique_ptr<SqliteStore> store_;  // used on pool_ only after open()
  StoreBatch pending_;
  uint64_t pending_last_seq_ = 0;
  bool commit_running_ = false;
  bool timer_armed_ = false;
  std::vector<std::function<void()>> flush_waiters_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace evg::spool
