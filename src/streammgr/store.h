#pragma once
// StreamStore: the streams and their messages (ggv1-protocol.md §6.4 semantics), on the loop.
//
// File persistence: ROOT/<hex(name)>/ holds definition.json, progress.json (exporters' next
// sequence numbers) and segment files <base seq, 20 digits>.seg of at most streamSegmentSize
// bytes. A record is [u32 len][u32 crc32][i64 seq][i64 ingest ms][payload], little endian; the
// CRC covers seq, time and payload. Appends are written with write(2) before they are answered
// (in the page cache: a kill -9 of the core loses nothing); flushOnWrite streams fdatasync each
// append before answering; for other streams takeDirty() hands the written segments' fds to the
// server, which fdatasyncs them on its pool every streamManager.syncIntervalMs. Opening a stream
// scans its segments: a torn or corrupt tail of the newest segment is truncated (logged), a corrupt
// older segment is renamed aside to <file>.corrupt and reported in the stream's errors (never
// deleted). Only a small index (seq, time, offset, length) per message stays in memory. Memory
// persistence keeps payloads in memory (lost at restart, like v1).

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "streammgr/export/stream_access.h"
#include "streammgr/protocol.h"

namespace evg::streammgr {

struct StoreOptions {
  std::string root_dir;               // File persistence root (created when needed)
  size_t max_streams = 1000;          // streamManager.maxStreams
  size_t max_read_bytes = 16u << 20;  // bytes of payload in one ReadMessages answer
  std::function<int64_t()> now_ms;    // epoch ms (tests inject); default: system clock
};

struct StreamStats {
  std::string name;
  int64_t messages = 0;
  int64_t bytes = 0;
  std::optional<int64_t> oldest, newest;
  std::optional<int64_t> oldest_ingest_ms, newest_ingest_ms;
  std::vector<std::string> errors;
};

class StreamStore : public StreamAccess {
 public:
  StreamStore(StoreOptions opts, Log log);
  ~StreamStore() override;
  StreamStore(const StreamStore&) = delete;
  StreamStore& operator=(const StreamStore&) = delete;

  // Loads the File streams found under root_dir (recovering as described above).
  Status open();
  void setExportHost(ExportHost* host) { host_ = host; }

  Status create(const StreamDefinition& def);
  // v1 rules: name and persistence may not change (UpdateNotAllowed, carried as Code::kConflict);
  // maxSize, streamSegmentSize, timeToLiveMillis, strategyOnFull, flushOnWrite and
  // exportDefinition may.
  Status update(const StreamDefinition& def);
  Status remove(const std::string& name);
  std::vector<std::string> list() const;
  Result<StreamDefinition> definition(const std::string& name) const;
  Result<StreamStats> stats(const std::string& name) const;
  std::vector<StreamStats> allStats() const;
  bool exists(const std::string& name) const;

  // Returns the new sequence number. TooLarge when the payload can never fit the stream;
  // Invalid ("stream ... is full") with RejectNewData.
  Result<int64_t> append(const std::string& name, std::string payload) override {
    return append(name, std::move(payload), nullptr);
  }
  // With `deferred_flush`: a flushOnWrite append is written but not fdatasynced; *deferred_flush
  // is set and the caller must get takeFlushPending()'s fds synced before answering (one
  // fdatasync for every append of a batch). Without: fdatasync inline.
  Result<int64_t> append(const std::string& name, std::string payload, bool* deferred_flush);
  // Duplicated fds of the segments with deferred flushOnWrite appends (caller syncs + closes).
  std::vector<int> takeFlushPending();
  // ReadMessages: messages from `start` (or the oldest present when start is older), at most
  // max_count and max_read_bytes.
  Result<std::vector<StoredMessage>> read(const std::string& stream, int64_t fromSeq,
                                          size_t maxCount, size_t maxBytes) override;
  // Count of messages with seq >= from (the long-poll check).
  Result<int64_t> available(const std::string& name, int64_t from) const;
  std::optional<int64_t> oldestSequence(const std::string& stream) override;
  std::optional<int64_t> newestSequence(const std::string& stream) override;
  std::optional<int64_t> loadProgress(const std::string& stream,
                                      const std::string& exporterId) override;
  Status saveProgress(const std::string& stream, const std::string& exporterId,
                      int64_t nextSequence) override;

  // Drops messages older than their stream's timeToLiveMillis.
  void expire();
  // Group commit: duplicates of the segment fds written since the last call (the caller
  // fdatasyncs and closes them, on a pool thread), and the same done inline (shutdown, tests).
  std::vector<int> takeDirty();
  void sync();
  // Called after every successful append (the server wakes long-polls).
  void setAppendListener(std::function<void(const std::string&)> f) { on_append_ = std::move(f); }

 private:
  struct Segment;
  struct Stream;
  Stream* find(const std::string& name) const;
  Status persistDefinition(Stream& s);
  Status openSegment(Stream& s, int64_t base);
  void dropOldestSegment(Stream& s);
  Status loadStream(const std::string& dir);
  Status recoverSegment(Stream& s, const std::string& path, int64_t base, bool newest);
  int64_t now() const;
  std::string streamDir(const std::string& name) const;

  StoreOptions opts_;
  Log log_;
  ExportHost* host_ = nullptr;
  std::map<std::string, std::unique_ptr<Stream>> streams_;
  std::function<void(const std::string&)> on_append_;
};

}  // namespace evg::streammgr
