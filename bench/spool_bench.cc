// Cloud spool storage: SQLite (WAL) vs an append-only segment log, both with group commit, for
// 256-byte messages; and the Spool's end-to-end durable append rate (append on the loop, commit
// on the pool thread, measured until every message is committed).
//
//   ninja -C build spool_bench && build/bench/spool_bench --benchmark_min_time=1
//
// Durability of each variant:
//   Sqlite/normal   synchronous=NORMAL in WAL: a committed batch survives kill -9 (our default)
//   Sqlite/full     synchronous=FULL: fsync per commit, survives power loss
//   SegmentLog/write   write(2) per batch: survives kill -9 (page cache), like Sqlite/normal
//   SegmentLog/fdatasync  + fdatasync per batch: survives power loss, like Sqlite/full
// The segment log here is append only (no acks, no compaction, no recovery scan): it is the
// upper bound of what a log could do, not a full implementation.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "spool/spool.h"
#include "spool/sqlite_store.h"

namespace {

namespace fs = std::filesystem;
using evg::spool::SqliteStore;
using evg::spool::StoreBatch;
using evg::spool::StoredMessage;

std::string benchDir() {
  auto d = fs::temp_directory_path() / ("evg_spool_bench_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}

void BM_SqliteAppend(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const bool full = state.range(1) != 0;
  std::string path = benchDir() + "/sqlite.db";
  fs::remove(path);
  fs::remove(path + "-wal");
  auto store =
      SqliteStore::open(path, full ? evg::spool::SyncMode::kFull : evg::spool::SyncMode::kNormal);
  if (!store) {
    state.SkipWithError(store.status().message().c_str());
    return;
  }
  auto payload = std::make_shared<const std::string>(256, 'p');
  uint64_t seq = 1;
  for (auto _ : state) {
    StoreBatch b;
    b.inserts.reserve(batch);
    for (size_t i = 0; i < batch; ++i) b.inserts.push_back({seq++, "up/telemetry", payload});
    // Keep the table at a steady size, as a draining spool does.
    if (seq > 20000) {
      for (size_t i = 0; i < batch; ++i) b.deletes.push_back(seq - 20000 + i);
    }
    auto st = (*store)->commit(b);
    if (!st) state.SkipWithError(st.message().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch * 256));
}
BENCHMARK(BM_SqliteAppend)
    ->ArgNames({"batch", "fsync"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({512, 0})
    ->Args({64, 1})
    ->Args({512, 1})
    ->UseRealTime();

void BM_SegmentLogAppend(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  std::string path = benchDir() + "/segment.log";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  std::string payload(256, 'p');
  std::string topic = "up/telemetry";
  std::string buf;
  uint64_t seq = 1;
  size_t written = 0;
  for (auto _ : state) {
    buf.clear();
    for (size_t i = 0; i < batch; ++i, ++seq) {
      // record: seq(8) topic_len(2) payload_len(4) crc(4) topic payload
      uint32_t crc = static_cast<uint32_t>(seq * 2654435761u);
      uint16_t tl = static_cast<uint16_t>(topic.size());
      uint32_t pl = static_cast<uint32_t>(payload.size());
      buf.append(reinterpret_cast<const char*>(&seq), 8);
      buf.append(reinterpret_cast<const char*>(&tl), 2);
      buf.append(reinterpret_cast<const char*>(&pl), 4);
      buf.append(reinterpret_cast<const char*>(&crc), 4);
      buf += topic;
      buf += payload;
    }
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
      state.SkipWithError("write failed");
      break;
    }
    if (sync) ::fdatasync(fd);
    written += buf.size();
    if (written > (64u << 20)) {  // rotate the segment
      if (::ftruncate(fd, 0) != 0) state.SkipWithError("truncate failed");
      written = 0;
    }
  }
  ::close(fd);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
BENCHMARK(BM_SegmentLogAppend)
    ->ArgNames({"batch", "fsync"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({512, 0})
    ->Args({64, 1})
    ->Args({512, 1})
    ->UseRealTime();

// End to end: Spool::append of 256 B messages on the loop; the clock stops when every message
// is committed to disk (persisted_seq), i.e. the durable append rate.
void BM_SpoolDurableAppend(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::string path = benchDir() + "/spool.db";
  auto payload = std::make_shared<const std::string>(256, 'p');
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove(path);
    fs::remove(path + "-wal");
    boost::asio::io_context io;
    evg::spool::SpoolOptions o;
    o.path = path;
    o.max_size_bytes = 64u << 20;
    o.sync = state.range(1) != 0 ? evg::spool::SyncMode::kFull : evg::spool::SyncMode::kNormal;
    evg::spool::Spool spool(io, o, evg::Log());
    if (!spool.open()) {
      state.SkipWithError("open failed");
      break;
    }
    state.ResumeTiming();
    for (int i = 0; i < n; ++i) {
      spool.append("up/telemetry", payload);
      if (i % 256 == 0) io.poll();  // the loop keeps running between publishes
    }
    while (spool.stats().persisted_seq < static_cast<uint64_t>(n)) io.run_one();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}
BENCHMARK(BM_SpoolDurableAppend)
    ->ArgNames({"n", "fsync"})
    ->Args({50000, 0})
    ->Args({50000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
