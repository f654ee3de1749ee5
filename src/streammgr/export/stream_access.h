#pragma once
// The narrow interface between the stream manager's store (src/streammgr, owned by the server)
// and its exporters (src/streammgr/export). The store implements StreamAccess; the exporters
// implement ExportHost. Both run on the core's single Asio event loop: no call here blocks on
// the network, and reads are bounded by count and bytes.
//
// Values, not pointers: messages are copied out of the store.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::streammgr {

// One stored message (wire type `Message`, ggv1-protocol.md §6.4).
struct StoredMessage {
  std::string stream;
  int64_t sequenceNumber = 0;
  int64_t ingestTimeMs = 0;  // epoch ms
  std::string payload;       // bytes
};

// What the exporters need from the store.
class StreamAccess {
 public:
  virtual ~StreamAccess() = default;
  // Messages with sequence number >= fromSeq, oldest first, at most maxCount and (after the first
  // message) at most maxBytes of payload. Empty when none. NotFound for an unknown stream.
  virtual Result<std::vector<StoredMessage>> read(const std::string& stream, int64_t fromSeq,
                                                  size_t maxCount, size_t maxBytes) = 0;
  // Oldest/newest sequence numbers present (nullopt when the stream is empty).
  virtual std::optional<int64_t> oldestSequence(const std::string& stream) = 0;
  virtual std::optional<int64_t> newestSequence(const std::string& stream) = 0;
  // Appends (used for the S3 task status stream). Returns the new sequence number.
  virtual Result<int64_t> append(const std::string& stream, std::string payload) = 0;
  // Durable per-(stream, exporter identifier) progress: the next sequence number to export.
  virtual std::optional<int64_t> loadProgress(const std::string& stream,
                                              const std::string& exporterId) = 0;
  virtual Status saveProgress(const std::string& stream, const std::string& exporterId,
                              int64_t nextSequence) = 0;
};

// Export status of one exporter (wire `exportStatuses[]` entry in MessageStreamInfo).
struct ExportStatus {
  std::string exportConfigIdentifier;
  int64_t lastExportedSequenceNumber = -1;
  int64_t lastExportTimeMs = 0;
  std::string errorMessage;
  int64_t exportedBytesFromStream = 0;
  int64_t exportedMessagesCount = 0;
};

// What the store needs from the exporters. The store calls these on create/update/delete of a
// stream and after each append; the exporters pull data with StreamAccess::read.
class ExportHost {
 public:
  virtual ~ExportHost() = default;
  // Validates and (re)configures the exporters of a stream from its `exportDefinition` (the CBOR
  // map decoded into JSON with the wire keys of §6.4; null/absent = no exporters). An invalid
  // definition returns Invalid naming the field and changes nothing.
  virtual Status configure(const std::string& stream, const nlohmann::json& exportDefinition) = 0;
  virtual void removeStream(const std::string& stream) = 0;
  virtual void onAppended(const std::string& stream, int64_t sequenceNumber) = 0;
  virtual std::vector<ExportStatus> statuses(const std::string& stream) const = 0;
};

}  // namespace evg::streammgr
