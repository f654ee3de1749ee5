#include "streammgr/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace evg::streammgr {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kHeader = 24;  // len, crc, seq, time

uint32_t crcOf(int64_t seq, int64_t t, std::string_view payload) {
  boost::crc_32_type c;
  c.process_bytes(&seq, sizeof seq);
  c.process_bytes(&t, sizeof t);
  c.process_bytes(payload.data(), payload.size());
  return c.checksum();
}

std::string hexName(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o.push_back(d[c >> 4]);
    o.push_back(d[c & 15]);
  }
  return o;
}

std::optional<std::string> unhex(const std::string& s) {
  if (s.size() % 2 != 0) return std::nullopt;
  std::string o;
  for (size_t i = 0; i < s.size(); i += 2) {
    auto v = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int a = v(s[i]), b = v(s[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    o.push_back(static_cast<char>(a * 16 + b));
  }
  return o;
}

std::string segName(int64_t base) {
  char buf[32];
  snprintf(buf, sizeof buf, "%020lld.seg", static_cast<long long>(base));
  return buf;
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io(tmp + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, data.data(), data.size());
  bool ok = n == static_cast<ssize_t>(data.size()) && ::fdatasync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::io(tmp + ": " + std::strerror(err));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io(path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

bool preadAll(int fd, char* buf, size_t n, off_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, off);
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
    off += r;
  }
  return true;
}

}  // namespace

struct StreamStore::Segment {
  struct Entry {
    int64_t seq;
    int64_t time;
    uint64_t offset;  // File: record offset; Memory: offset in data
    uint32_t len;
  };
  int64_t base = 0;
  std::vector<Entry> entries;
  std::string data;  // Memory persistence payloads
  int fd = -1;
  std::string path;
  uint64_t file_size = 0;
  int64_t bytes = 0;           // payload bytes
  bool dirty = false;          // written since the last sync
  bool flush_pending = false;  // deferred flushOnWrite appends
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
};

struct StreamStore::Stream {
  StreamDefinition def;
  std::string dir;
  std::deque<std::unique_ptr<Segment>> segments;
  int64_t next_seq = 0;
  int64_t bytes = 0;
  int64_t messages = 0;
  bool dirty = false;  // written since last sync()
  json progress = json::object();
  std::vector<std::string> errors;
};

StreamStore::StreamStore(StoreOptions opts, Log log)
    : opts_(std::move(opts)), log_(std::move(log)) {}
StreamStore::~StreamStore() = default;

int64_t StreamStore::now() const {
  if (opts_.now_ms) return opts_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string StreamStore::streamDir(const std::string& name) const {
  return opts_.root_dir + "/" + hexName(name);
}

StreamStore::Stream* StreamStore::find(const std::string& name) const {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool StreamStore::exists(const std::string& name) const { return find(name) != nullptr; }

Status StreamStore::open() {
  if (opts_.root_dir.empty()) return Status::ok();
  std::error_code ec;
  fs::create_directories(opts_.root_dir, ec);
  if (ec) return Status::io(opts_.root_dir + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(opts_.root_dir, ec)) {
    if (!e.is_directory()) continue;
    Status s = loadStream(e.path().string());
    if (!s) log_.error("stream directory " + e.path().string() + " not loaded: " + s.message());
  }
  if (ec) return Status::io(opts_.root_dir + ": " + ec.message());
  return Status::ok();
}

Status StreamStore::loadStream(const std::string& dir) {
  auto name = unhex(fs::path(dir).filename().string());
  if (!name) return Status::invalid("not a stream directory name");
  std::ifstream in(dir + "/definition.json");
  if (!in) return Status::notFound("definition.json missing");
  json dj = json::parse(in, nullptr, false);
  if (dj.is_discarded()) return Status::corruption("definition.json is not JSON");
  auto def = parseDefinition(dj);
  if (!def) return def.status();
  if (def->name != *name) return Status::corruption("definition.json names another stream");
  auto s = std::make_unique<Stream>();
  s->def = *def;
  s->dir = dir;
  std::ifstream pin(dir + "/progress.json");
  if (pin) {
    json p = json::parse(pin, nullptr, false);
    if (p.is_object()) s->progress = p;
  }
  std::vector<std::pair<int64_t, std::string>> segs;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string fn = e.path().filename().string();
    if (fn.size() != 24 || fn.substr(20) != ".seg") continue;
    segs.emplace_back(std::stoll(fn.substr(0, 20)), e.path().string());
  }
  std::sort(segs.begin(), segs.end());
  for (size_t i = 0; i < segs.size(); ++i) {
    Status rs = recoverSegment(*s, segs[i].second, segs[i].first, i + 1 == segs.size());
    if (!rs) {
      std::string aside = segs[i].second + ".corrupt";
      std::error_code ec;
      fs::rename(segs[i].second, aside, ec);
      std::string msg = "segment " + segs[i].second + " is corrupt (" + rs.message() +
                        "); moved aside to " + aside;
      log_.error("stream " + s->def.name + ": " + msg);
      s->errors.push_back(msg);
    }
  }
  // Sequence numbers continue after the last one ever written, even if its segment is gone.
  for (const auto& seg : s->segments) {
    if (!seg->entries.empty()) s->next_seq = std::max(s->next_seq, seg->entries.back().seq + 1);
    s->next_seq = std::max(s->next_seq, seg->base);
  }
  if (const auto* ns = field(s->progress, "__nextSequence"); ns && ns->is_number_integer()) {
    s->next_seq = std::max(s->next_seq, ns->get<int64_t>());
  }
  log_.info("stream " + s->def.name + " loaded: " + std::to_string(s->messages) + " messages, " +
            std::to_string(s->bytes) + " bytes, next sequence number " +
            std::to_string(s->next_seq));
  streams_[s->def.name] = std::move(s);
  return Status::ok();
}

Status StreamStore::recoverSegment(Stream& s, const std::string& path, int64_t base, bool newest) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::io(std::strerror(errno));
  auto seg = std::make_unique<Segment>();
  seg->fd = fd;
  seg->base = base;
  seg->path = path;
  struct stat st {};
  ::fstat(fd, &st);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t off = 0;
  std::string payload;
  int64_t expect = base;
  while (off < size) {
    char h[kHeader];
    std::string why;
    if (size - off < kHeader || !preadAll(fd, h, kHeader, static_cast<off_t>(off))) {
      why = "torn record header";
    } else {
      uint32_t len, crc;
      int64_t seq, t;
      std::memcpy(&len, h, 4);
      std::memcpy(&crc, h + 4, 4);
      std::memcpy(&seq, h + 8, 8);
      std::memcpy(&t, h + 16, 8);
      if (len > size - off - kHeader) {
        why = "torn record";
      } else {
        payload.resize(len);
        if (!preadAll(fd, payload.data(), len, static_cast<off_t>(off + kHeader)) ||
            crcOf(seq, t, payload) != crc) {
          why = "CRC mismatch";
        } else if (seq < expect) {
          why = "sequence number goes backwards";
        } else {
          seg->entries.push_back({seq, t, off, len});
          seg->bytes += len;
          expect = seq + 1;
          off += kHeader + len;
          continue;
        }
      }
    }
    if (!newest) return Status::corruption(why + " at offset " + std::to_string(off));
    // The tail of the newest segment was being written when the core died: cut it.
    log_.warn("stream " + s.def.name + ": " + why + " at offset " + std::to_string(off) + " of " +
              path + "; truncating " + std::to_string(size - off) + " bytes");
    if (::ftruncate(fd, static_cast<off_t>(off)) != 0) {
      return Status::io(std::string("truncate: ") + std::strerror(errno));
    }
    size = off;
  }
  seg->file_size = size;
  s.bytes += seg->bytes;
  s.messages += static_cast<int64_t>(seg->entries.size());
  s.segments.push_back(std::move(seg));
  return Status::ok();
}

Status StreamStore::persistDefinition(Stream& s) {
  if (s.def.persistence != Persistence::kFile) return Status::ok();
  std::error_code ec;
  fs::create_directories(s.dir, ec);
  if (ec) return Status::io(s.dir + ": " + ec.message());
  return writeFileAtomic(s.dir + "/definition.json", s.def.toJson().dump());
}

Status StreamStore::create(const StreamDefinition& def) {
  if (exists(def.name)) return Status::invalid("stream " + def.name + " already exists");
  if (streams_.size() >= opts_.max_streams) {
    return Status::busy("stream limit streamManager.maxStreams = " +
                        std::to_string(opts_.max_streams) + " reached");
  }
  if (def.persistence == Persistence::kFile && opts_.root_dir.empty()) {
    return Status::invalid("File persistence needs a store root directory");
  }
  if (host_ != nullptr) EVG_RETURN_IF_ERROR(host_->configure(def.name, def.export_definition));
  auto s = std::make_unique<Stream>();
  s->def = def;
  if (def.persistence == Persistence::kFile) {
    s->dir = streamDir(def.name);
    std::error_code ec;
    fs::remove_all(s->dir, ec);  // leftovers of a stream deleted while its files were busy
    Status ps = persistDefinition(*s);
    if (!ps) {
      if (host_ != nullptr) host_->removeStream(def.name);
      return ps;
    }
  }
  log_.info("stream " + def.name + " created (" +
            (def.persistence == Persistence::kFile ? "File" : "Memory") + ", maxSize " +
            std::to_string(def.max_size) + ")");
  streams_[def.name] = std::move(s);
  return Status::ok();
}

Status StreamStore::update(const StreamDefinition& def) {
  Stream* s = find(def.name);
  if (s == nullptr) return Status::notFound("stream " + def.name + " not found");
  if (def.persistence != s->def.persistence) {
    return Status::conflict("definition.persistence cannot be changed by an update");
  }
  if (host_ != nullptr) EVG_RETURN_IF_ERROR(host_->configure(def.name, def.export_definition));
  StreamDefinition old = s->def;
  s->def = def;
  Status ps = persistDefinition(*s);
  if (!ps) {
    s->def = old;
    return ps;
  }
  // A smaller maxSize applies now with OverwriteOldestData.
  while (s->bytes > s->def.max_size && s->def.strategy == StrategyOnFull::kOverwriteOldestData &&
         s->segments.size() > 1) {
    dropOldestSegment(*s);
  }
  log_.info("stream " + def.name + " updated");
  return Status::ok();
}

Status StreamStore::remove(const std::string& name) {
  auto it = streams_.find(name);
  if (it == streams_.end()) return Status::notFound("stream " + name + " not found");
  if (host_ != nullptr) host_->removeStream(name);
  std::string dir = it->second->dir;
  streams_.erase(it);
  if (!dir.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) log_.error("stream " + name + ": removing " + dir + ": " + ec.message());
  }
  log_.info("stream " + name + " deleted");
  return Status::ok();
}

std::vector<std::string> StreamStore::list() const {
  std::vector<std::string> v;
  for (const auto& [n, s] : streams_) v.push_back(n);
  return v;
}

Result<StreamDefinition> StreamStore::definition(const std::string& name) const {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  return s->def;
}

Result<StreamStats> StreamStore::stats(const std::string& name) const {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  StreamStats st;
  st.name = name;
  st.messages = s->messages;
  st.bytes = s->bytes;
  st.errors = s->errors;
  for (const auto& seg : s->segments) {
    if (seg->entries.empty()) continue;
    if (!st.oldest) {
      st.oldest = seg->entries.front().seq;
      st.oldest_ingest_ms = seg->entries.front().time;
    }
    st.newest = seg->entries.back().seq;
    st.newest_ingest_ms = seg->entries.back().time;
  }
  return st;
}

std::vector<StreamStats> StreamStore::allStats() const {
  std::vector<StreamStats> v;
  for (const auto& [n, s] : streams_) v.push_back(*stats(n));
  return v;
}

Status StreamStore::openSegment(Stream& s, int64_t base) {
  auto seg = std::make_unique<Segment>();
  seg->base = base;
  if (s.def.persistence == Persistence::kFile) {
    seg->path = s.dir + "/" + segName(base);
    seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (seg->fd < 0) return Status::io(seg->path + ": " + std::strerror(errno));
  }
  s.segments.push_back(std::move(seg));
  return Status::ok();
}

void StreamStore::dropOldestSegment(Stream& s) {
  auto& seg = s.segments.front();
  s.bytes -= seg->bytes;
  s.messages -= static_cast<int64_t>(seg->entries.size());
  if (!seg->path.empty()) ::unlink(seg->path.c_str());
  s.segments.pop_front();
}

Result<int64_t> StreamStore::append(const std::string& name, std::string payload,
                                    bool* deferred_flush) {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  if (payload.empty()) return Status::invalid("payload must be at least 1 byte");
  const int64_t len = static_cast<int64_t>(payload.size());
  if (len > s->def.max_size || len + static_cast<int64_t>(kHeader) > s->def.segment_size) {
    return Status::tooLarge("payload of " + std::to_string(len) +
                            " bytes exceeds the stream's maxSize / streamSegmentSize");
  }
  expire();
  if (s->bytes + len > s->def.max_size) {
    if (s->def.strategy == StrategyOnFull::kRejectNewData) {
      return Status::invalid("stream " + name + " is full (maxSize " +
                             std::to_string(s->def.max_size) +
                             " bytes, strategyOnFull RejectNewData)");
    }
    while (s->bytes + len > s->def.max_size && !s->segments.empty()) {
      if (s->segments.size() == 1) {
        // Seal the only segment so it can be dropped.
        EVG_RETURN_IF_ERROR(openSegment(*s, s->next_seq));
      }
      dropOldestSegment(*s);
    }
  }
  if (s->segments.empty() || (s->segments.back()->file_size + kHeader + static_cast<uint64_t>(len) >
                                  static_cast<uint64_t>(s->def.segment_size) &&
                              !s->segments.back()->entries.empty())) {
    EVG_RETURN_IF_ERROR(openSegment(*s, s->next_seq));
  }
  Segment& seg = *s->segments.back();
  const int64_t seq = s->next_seq;
  const int64_t t = now();
  if (seg.fd >= 0) {
    std::string rec(kHeader, '\0');
    uint32_t l32 = static_cast<uint32_t>(len);
    uint32_t crc = crcOf(seq, t, payload);
    std::memcpy(rec.data(), &l32, 4);
    std::memcpy(rec.data() + 4, &crc, 4);
    std::memcpy(rec.data() + 8, &seq, 8);
    std::memcpy(rec.data() + 16, &t, 8);
    rec.append(payload);
    ssize_t n = ::pwrite(seg.fd, rec.data(), rec.size(), static_cast<off_t>(seg.file_size));
    if (n != static_cast<ssize_t>(rec.size())) {
      std::string err = n < 0 ? std::strerror(errno) : "short write";
      if (::ftruncate(seg.fd, static_cast<off_t>(seg.file_size)) != 0) {
        s->errors.push_back("write failed and could not be undone: " + err);
      }
      return Status::io("stream " + name + ": write: " + err);
    }
    if (s->def.flush_on_write && deferred_flush != nullptr) {
      seg.flush_pending = true;
      *deferred_flush = true;
    } else if (s->def.flush_on_write && ::fdatasync(seg.fd) != 0) {
      return Status::io("stream " + name + ": fdatasync: " + std::strerror(errno));
    }
    seg.entries.push_back({seq, t, seg.file_size, static_cast<uint32_t>(len)});
    seg.file_size += rec.size();
    if (!s->def.flush_on_write) {
      seg.dirty = true;
      s->dirty = true;
    }
  } else {
    seg.entries.push_back({seq, t, seg.data.size(), static_cast<uint32_t>(len)});
    seg.data.append(payload);
    seg.file_size += kHeader + static_cast<uint64_t>(len);
  }
  seg.bytes += len;
  s->bytes += len;
  s->messages += 1;
  s->next_seq = seq + 1;
  if (host_ != nullptr) host_->onAppended(name, seq);
  if (on_append_) on_append_(name);
  return seq;
}

Result<int64_t> StreamStore::available(const std::string& name, int64_t from) const {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  if (s->messages == 0) return int64_t{0};
  int64_t newest = s->next_seq - 1;
  int64_t oldest = newest;
  for (const auto& seg : s->segments) {
    if (!seg->entries.empty()) {
      oldest = seg->entries.front().seq;
      break;
    }
  }
  int64_t start = std::max(from, oldest);
  return start > newest ? int64_t{0} : newest - start + 1;
}

Result<std::vector<StoredMessage>> StreamStore::read(const std::string& name, int64_t from,
                                                     size_t max_count, size_t max_bytes) {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  expire();
  std::vector<StoredMessage> out;
  size_t bytes = 0;
  for (const auto& seg : s->segments) {
    if (seg->entries.empty() || seg->entries.back().seq < from) continue;
    auto it = std::lower_bound(seg->entries.begin(), seg->entries.end(), from,
                               [](const Segment::Entry& e, int64_t v) { return e.seq < v; });
    for (; it != seg->entries.end(); ++it) {
      if (out.size() >= max_count) return out;
      if (!out.empty() && bytes + it->len > max_bytes) return out;
      StoredMessage m;
      m.stream = name;
      m.sequenceNumber = it->seq;
      m.ingestTimeMs = it->time;
      if (seg->fd >= 0) {
        m.payload.resize(it->len);
        if (!preadAll(seg->fd, m.payload.data(), it->len,
                      static_cast<off_t>(it->offset + kHeader))) {
          return Status::io("stream " + name + ": reading " + seg->path + ": " +
                            std::strerror(errno));
        }
      } else {
        m.payload = seg->data.substr(it->offset, it->len);
      }
      bytes += it->len;
      out.push_back(std::move(m));
    }
  }
  return out;
}

std::optional<int64_t> StreamStore::oldestSequence(const std::string& name) {
  auto st = stats(name);
  return st ? st->oldest : std::nullopt;
}

std::optional<int64_t> StreamStore::newestSequence(const std::string& name) {
  auto st = stats(name);
  return st ? st->newest : std::nullopt;
}

std::optional<int64_t> StreamStore::loadProgress(const std::string& name, const std::string& id) {
  Stream* s = find(name);
  if (s == nullptr) return std::nullopt;
  const json* v = field(s->progress, id);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

Status StreamStore::saveProgress(const std::string& name, const std::string& id, int64_t next) {
  Stream* s = find(name);
  if (s == nullptr) return Status::notFound("stream " + name + " not found");
  s->progress[id] = next;
  if (s->def.persistence != Persistence::kFile) return Status::ok();
  // Also remember the next sequence number: if every segment is dropped, numbering continues.
  s->progress["__nextSequence"] = s->next_seq;
  return writeFileAtomic(s->dir + "/progress.json", s->progress.dump());
}

void StreamStore::expire() {
  const int64_t t = now();
  for (auto& [n, s] : streams_) {
    if (!s->def.ttl_ms) continue;
    const int64_t cutoff = t - *s->def.ttl_ms;
    while (!s->segments.empty()) {
      Segment& seg = *s->segments.front();
      if (seg.entries.empty() && s->segments.size() > 1) {
        dropOldestSegment(*s);
        continue;
      }
      if (seg.entries.empty() || seg.entries.back().time >= cutoff) break;
      // Whole segment expired. (The newest segment is dropped too; a new one opens on append.)
      dropOldestSegment(*s);
    }
    // Within the oldest segment, expired messages are skipped for Memory streams.
    if (!s->segments.empty() && s->segments.front()->fd < 0) {
      Segment& seg = *s->segments.front();
      size_t k = 0;
      while (k < seg.entries.size() && seg.entries[k].time < cutoff) {
        seg.bytes -= seg.entries[k].len;
        s->bytes -= seg.entries[k].len;
        s->messages -= 1;
        ++k;
      }
      if (k > 0) seg.entries.erase(seg.entries.begin(), seg.entries.begin() + static_cast<long>(k));
    }
  }
}

std::vector<int> StreamStore::takeDirty() {
  std::vector<int> fds;
  for (auto& [n, s] : streams_) {
    if (!s->dirty) continue;
    s->dirty = false;
    for (auto& seg : s->segments) {
      if (seg->fd < 0 || !seg->dirty) continue;
      seg->dirty = false;
      int d = ::fcntl(seg->fd, F_DUPFD_CLOEXEC, 0);
      if (d >= 0) fds.push_back(d);
    }
  }
  return fds;
}

std::vector<int> StreamStore::takeFlushPending() {
  std::vector<int> fds;
  for (auto& [n, s] : streams_) {
    for (auto& seg : s->segments) {
      if (seg->fd < 0 || !seg->flush_pending) continue;
      seg->flush_pending = false;
      int d = ::fcntl(seg->fd, F_DUPFD_CLOEXEC, 0);
      if (d >= 0) fds.push_back(d);
    }
  }
  return fds;
}

void StreamStore::sync() {
  for (int fd : takeDirty()) {
    if (::fdatasync(fd) != 0) log_.error(std::string("fdatasync: ") + std::strerror(errno));
    ::close(fd);
  }
}

}  // namespace evg::streammgr
