#pragma once
// Test support (unit tests and the export driver): an in-memory StreamAccess.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "streammgr/export/stream_access.h"

namespace evg::streammgr::testsupport {

class FakeStreamAccess : public StreamAccess {
 public:
  // Appends to `stream` (created on first use); returns the sequence number.
  int64_t add(const std::string& stream, std::string payload, int64_t ingestTimeMs = -1) {
    auto& s = streams_[stream];
    StoredMessage m;
    m.stream = stream;
    m.sequenceNumber = s.empty() ? firstSeq_ : s.back().sequenceNumber + 1;
    m.ingestTimeMs = ingestTimeMs >= 0 ? ingestTimeMs : nowMs();
    m.payload = std::move(payload);
    s.push_back(std::move(m));
    return s.back().sequenceNumber;
  }
  const std::vector<StoredMessage>& messages(const std::string& stream) { return streams_[stream]; }

  Result<std::vector<StoredMessage>> read(const std::string& stream, int64_t fromSeq,
                                          size_t maxCount, size_t maxBytes) override {
    ++reads;
    auto it = streams_.find(stream);
    if (it == streams_.end()) return Status::notFound("no stream " + stream);
    std::vector<StoredMessage> out;
    size_t bytes = 0;
    for (const auto& m : it->second) {
      if (m.sequenceNumber < fromSeq) continue;
      if (out.size() >= maxCount) break;
      if (!out.empty() && bytes + m.payload.size() > maxBytes) break;
      bytes += m.payload.size();
      out.push_back(m);
    }
    return out;
  }
  std::optional<int64_t> oldestSequence(const std::string& stream) override {
    auto it = streams_.find(stream);
    if (it == streams_.end() || it->second.empty()) return std::nullopt;
    return it->second.front().sequenceNumber;
  }
  std::optional<int64_t> newestSequence(const std::string& stream) override {
    auto it = streams_.find(stream);
    if (it == streams_.end() || it->second.empty()) return std::nullopt;
    return it->second.back().sequenceNumber;
  }
  Result<int64_t> append(const std::string& stream, std::string payload) override {
    return add(stream, std::move(payload));
  }
  std::optional<int64_t> loadProgress(const std::string& stream,
                                      const std::string& exporterId) override {
    auto it = progress.find(stream + "/" + exporterId);
    if (it == progress.end()) return std::nullopt;
    return it->second;
  }
  Status saveProgress(const std::string& stream, const std::string& exporterId,
                      int64_t nextSequence) override {
    progress[stream + "/" + exporterId] = nextSequence;
    ++saves;
    return Status::ok();
  }

  static int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::map<std::string, int64_t> progress;
  int saves = 0;
  int reads = 0;

 private:
  int64_t firstSeq_ = 0;
  std::map<std::string, std::vector<StoredMessage>> streams_;
};

}  // namespace evg::streammgr::testsupport
