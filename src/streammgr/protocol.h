#pragma once
// Stream manager wire protocol (ggv1-protocol.md §6), sans-I/O: frame encoding/decoding, CBOR
// payloads (nlohmann::json::to_cbor/from_cbor; byte strings <-> json binary), operation and status
// codes, the one Code -> ResponseStatusCode mapping, and request validation (§6.4).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace evg::streammgr {

// One byte written first by each side (CONNECT_VERSION).
inline constexpr uint8_t kConnectVersion = 1;
inline constexpr const char* kProtocolVersion = "1.1.0";
inline constexpr const char* kOtherProtocolVersions[] = {"1.0.0"};
inline constexpr const char* kServerVersion = "1.1.0";
// The SDKs' own bound on L (op byte + payload); the server's limit is configurable below it.
inline constexpr uint32_t kProtocolMaxFrameLength = 1u << 30;

enum class Op : uint8_t {
  kUnknown = 0,
  kConnect = 1,
  kCreateMessageStream = 2,
  kDeleteMessageStream = 3,
  kAppendMessage = 4,
  kReadMessages = 5,
  kConnectResponse = 6,
  kCreateMessageStreamResponse = 7,
  kDeleteMessageStreamResponse = 8,
  kAppendMessageResponse = 9,
  kReadMessagesResponse = 10,
  kListStreams = 11,
  kListStreamsResponse = 12,
  kDescribeMessageStream = 13,
  kDescribeMessageStreamResponse = 14,
  kUpdateMessageStream = 15,
  kUpdateMessageStreamResponse = 16,
  kUnknownOperationError = 17,
};
std::string_view opName(Op op);
// The response op of a request op (nullopt: not a request op the server answers).
std::optional<Op> responseOp(Op request);

enum class StatusCode : int {
  kSuccess = 0,
  kUnknownFailure = 1,
  kUnauthorized = 2,
  kInvalidRequest = 3,
  kRequestPayloadTooLarge = 4,
  kResourceNotFound = 5,
  kServerTimeout = 6,
  kResponsePayloadTooLarge = 7,
  kUnsupportedConnectVersion = 8,
  kUnexpectedOperation = 9,
  kUnsupportedProtocolVersion = 10,
  kInvalidProtocolVersion = 11,
  kFailedToConnect = 12,
  kNotEnoughMessages = 13,
  kMessageStoreReadError = 14,
  kOutOfMemoryError = 15,
  kUpdateFailed = 16,
  kUpdateNotAllowed = 17,
  kUnknownOperation = 18,
};

// The one place a Status becomes a wire status. Codes the Status enum cannot express directly
// (NotEnoughMessages, UpdateNotAllowed) are carried as an explicit override by the caller.
StatusCode statusCodeFor(const Status& s);

struct Frame {
  Op op = Op::kUnknown;
  uint8_t raw_op = 0;   // the byte as received (unknown ops are answered, not dropped)
  std::string payload;  // CBOR bytes
};

// Encodes L (4 bytes BE, = payload + 1), the op byte and the payload.
std::string encodeFrame(uint8_t op, std::string_view payload);
inline std::string encodeFrame(Op op, std::string_view payload) {
  return encodeFrame(static_cast<uint8_t>(op), payload);
}

// Incremental decoder: feed() bytes as they arrive, next() yields complete frames. A length < 1
// or above max_frame_length is a protocol error (the connection must be closed): TooLarge names
// the limit, Invalid otherwise; after an error the decoder stays failed.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_length) : max_(max_frame_length) {}
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // A frame, nullopt when more bytes are needed, or an error.
  Result<std::optional<Frame>> next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint32_t max_;
  std::string buf_;
  size_t pos_ = 0;
  Status failed_;
};

// CBOR map <-> json. Byte strings decode to json binary; decode errors are Invalid (never throw).
Result<nlohmann::json> decodeCbor(std::string_view bytes);
std::string encodeCbor(const nlohmann::json& j);
// A json binary value holding bytes.
nlohmann::json bytesValue(std::string_view bytes);

// ---- validation (§6.4), messages name the field ----
// Fields of a stream definition with defaults applied.
enum class Persistence { kFile = 0, kMemory = 1 };
enum class StrategyOnFull { kRejectNewData = 0, kOverwriteOldestData = 1 };

struct StreamDefinition {
  std::string name;
  int64_t max_size = 268435456;
  int64_t segment_size = 16777216;
  std::optional<int64_t> ttl_ms;
  StrategyOnFull strategy = StrategyOnFull::kRejectNewData;
  Persistence persistence = Persistence::kFile;
  bool flush_on_write = false;
  nlohmann::json export_definition;  // null when absent
  // The wire form (definition map; enums as integers).
  nlohmann::json toJson() const;
};

Status validateStreamName(const nlohmann::json& v, std::string_view field);
// Parses and validates a MessageStreamDefinition map.
Result<StreamDefinition> parseDefinition(const nlohmann::json& def);

struct ReadOptions {
  int64_t start = 0;
  int64_t min_count = 1;
  int64_t max_count = 1;
  int64_t timeout_ms = 0;
};
Result<ReadOptions> parseReadOptions(const nlohmann::json& opts, int64_t max_timeout_ms);

// Optional field lookup treating CBOR null like absent.
const nlohmann::json* field(const nlohmann::json& m, std::string_view key);

}  // namespace evg::streammgr
