#include "streammgr/protocol.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace evg::streammgr {

using nlohmann::json;

std::string_view opName(Op op) {
  switch (op) {
    case Op::kUnknown:
      return "Unknown";
    case Op::kConnect:
      return "Connect";
    case Op::kCreateMessageStream:
      return "CreateMessageStream";
    case Op::kDeleteMessageStream:
      return "DeleteMessageStream";
    case Op::kAppendMessage:
      return "AppendMessage";
    case Op::kReadMessages:
      return "ReadMessages";
    case Op::kConnectResponse:
      return "ConnectResponse";
    case Op::kCreateMessageStreamResponse:
      return "CreateMessageStreamResponse";
    case Op::kDeleteMessageStreamResponse:
      return "DeleteMessageStreamResponse";
    case Op::kAppendMessageResponse:
      return "AppendMessageResponse";
    case Op::kReadMessagesResponse:
      return "ReadMessagesResponse";
    case Op::kListStreams:
      return "ListStreams";
    case Op::kListStreamsResponse:
      return "ListStreamsResponse";
    case Op::kDescribeMessageStream:
      return "DescribeMessageStream";
    case Op::kDescribeMessageStreamResponse:
      return "DescribeMessageStreamResponse";
    case Op::kUpdateMessageStream:
      return "UpdateMessageStream";
    case Op::kUpdateMessageStreamResponse:
      return "UpdateMessageStreamResponse";
    case Op::kUnknownOperationError:
      return "UnknownOperationError";
  }
  return "?";
}

std::optional<Op> responseOp(Op request) {
  switch (request) {
    case Op::kConnect:
      return Op::kConnectResponse;
    case Op::kCreateMessageStream:
      return Op::kCreateMessageStreamResponse;
    case Op::kDeleteMessageStream:
      return Op::kDeleteMessageStreamResponse;
    case Op::kAppendMessage:
      return Op::kAppendMessageResponse;
    case Op::kReadMessages:
      return Op::kReadMessagesResponse;
    case Op::kListStreams:
      return Op::kListStreamsResponse;
    case Op::kDescribeMessageStream:
      return Op::kDescribeMessageStreamResponse;
    case Op::kUpdateMessageStream:
      return Op::kUpdateMessageStreamResponse;
    default:
      return std::nullopt;
  }
}

StatusCode statusCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return StatusCode::kSuccess;
    case Code::kInvalid:
      return StatusCode::kInvalidRequest;
    case Code::kNotFound:
      return StatusCode::kResourceNotFound;
    case Code::kUnauthorized:
    case Code::kForbidden:
      return StatusCode::kUnauthorized;
    case Code::kTimeout:
      return StatusCode::kServerTimeout;
    case Code::kTooLarge:
      return StatusCode::kRequestPayloadTooLarge;
    case Code::kCorruption:
    case Code::kIo:
      return StatusCode::kMessageStoreReadError;
    case Code::kBusy:
    case Code::kRetry:
      return StatusCode::kUnknownFailure;  // a named server limit was reached
    case Code::kConflict:
      return StatusCode::kUpdateNotAllowed;
    case Code::kUnsupported:
      return StatusCode::kUnknownOperation;
    case Code::kInternal:
      return StatusCode::kUnknownFailure;
  }
  return StatusCode::kUnknownFailure;
}

std::string encodeFrame(uint8_t op, std::string_view payload) {
  std::string out;
  uint32_t l = static_cast<uint32_t>(payload.size() + 1);
  out.reserve(payload.size() + 5);
  out.push_back(static_cast<char>((l >> 24) & 0xff));
  out.push_back(static_cast<char>((l >> 16) & 0xff));
  out.push_back(static_cast<char>((l >> 8) & 0xff));
  out.push_back(static_cast<char>(l & 0xff));
  out.push_back(static_cast<char>(op));
  out.append(payload);
  return out;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (!failed_.isOk()) return failed_;
  if (buf_.size() - pos_ < 4) return std::optional<Frame>();
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  int32_t l = static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                                   (uint32_t{p[2]} << 8) | uint32_t{p[3]});
  if (l < 1) {
    failed_ = Status::invalid("frame length " + std::to_string(l) + " is below 1");
    return failed_;
  }
  if (static_cast<uint32_t>(l) > max_) {
    failed_ = Status::tooLarge(
        "frame length " + std::to_string(l) +
        " exceeds the limit streamManager.maxFrameBytes = " + std::to_string(max_));
    return failed_;
  }
  if (buf_.size() - pos_ < 4 + static_cast<size_t>(l)) return std::optional<Frame>();
  Frame f;
  f.raw_op = p[4];
  f.op = f.raw_op <= static_cast<uint8_t>(Op::kUnknownOperationError) ? static_cast<Op>(f.raw_op)
                                                                      : Op::kUnknown;
  f.payload.assign(buf_.data() + pos_ + 5, static_cast<size_t>(l) - 1);
  pos_ += 4 + static_cast<size_t>(l);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<Frame>(std::move(f));
}

Result<json> decodeCbor(std::string_view bytes) {
  json j;
  try {
    // allow_exceptions=false still lets the DOM builder throw on some inputs (e.g. an array
    // header announcing more elements than max_size(), nlohmann 3.11 json_sax.hpp): caught here.
    j = json::from_cbor(bytes.begin(), bytes.end(), /*strict=*/true, /*allow_exceptions=*/false,
                        json::cbor_tag_handler_t::ignore);
  } catch (const json::exception& e) {
    return Status::invalid(std::string("payload is not valid CBOR: ") + e.what());
  }
  if (j.is_discarded()) return Status::invalid("payload is not valid CBOR");
  if (!j.is_object()) return Status::invalid("payload is not a CBOR map");
  return j;
}

std::string encodeCbor(const json& j) {
  std::string out;
  json::to_cbor(j, out);
  return out;
}

json bytesValue(std::string_view bytes) {
  return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

const json* field(const json& m, std::string_view key) {
  if (!m.is_object()) return nullptr;
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return nullptr;
  return &*it;
}

namespace {

Result<int64_t> intField(const json& m, std::string_view key, std::string_view where, int64_t def,
                         int64_t lo, int64_t hi) {
  const json* v = field(m, key);
  if (v == nullptr) return def;
  if (!v->is_number_integer()) {
    return Status::invalid(std::string(where) + std::string(key) + " must be an integer");
  }
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::invalid(std::string(where) + std::string(key) + " is too large");
    }
    n = static_cast<int64_t>(u);
  } else {
    n = v->get<int64_t>();
  }
  if (n < lo || n > hi) {
    return Status::invalid(std::string(where) + std::string(key) + " must be between " +
                           std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                           std::to_string(n));
  }
  return n;
}

}  // namespace

Status validateStreamName(const json& v, std::string_view field_name) {
  if (!v.is_string()) return Status::invalid(std::string(field_name) + " must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 255) {
    return Status::invalid(std::string(field_name) + " must be 1 to 255 characters long, got " +
                           std::to_string(s.size()));
  }
  for (unsigned char c : s) {
    bool ok = std::isalnum(c) != 0 || c == '_' || c == ' ' || c == ',' || c == '.' || c == '-';
    if (!ok) {
      return Status::invalid(std::string(field_name) + " \"" + s +
                             "\" does not match ^[\\w ,.\\-_]*$");
    }
  }
  return Status::ok();
}

json StreamDefinition::toJson() const {
  json d = {{"name", name},
            {"maxSize", max_size},
            {"streamSegmentSize", segment_size},
            {"strategyOnFull", static_cast<int>(strategy)},
            {"persistence", static_cast<int>(persistence)},
            {"flushOnWrite", flush_on_write}};
  if (ttl_ms) d["timeToLiveMillis"] = *ttl_ms;
  if (!export_definition.is_null()) d["exportDefinition"] = export_definition;
  return d;
}

Result<StreamDefinition> parseDefinition(const json& def) {
  if (!def.is_object()) return Status::invalid("definition is required and must be a map");
  StreamDefinition d;
  const json* name = field(def, "name");
  if (name == nullptr) return Status::invalid("definition.name is required");
  EVG_RETURN_IF_ERROR(validateStreamName(*name, "definition.name"));
  d.name = name->get<std::string>();
  auto max_size = intField(def, "maxSize", "definition.", d.max_size, 1024,
                           std::numeric_limits<int64_t>::max());
  if (!max_size) return max_size.status();
  d.max_size = *max_size;
  auto seg = intField(def, "streamSegmentSize", "definition.", d.segment_size, 1024, 2147483647);
  if (!seg) return seg.status();
  d.segment_size = *seg;
  if (field(def, "timeToLiveMillis") != nullptr) {
    auto ttl = intField(def, "timeToLiveMillis", "definition.", 0, 60000, 9223372036854);
    if (!ttl) return ttl.status();
    d.ttl_ms = *ttl;
  }
  if (field(def, "strategyOnFull") == nullptr) {
    return Status::invalid("definition.strategyOnFull is required");
  }
  auto strat = intField(def, "strategyOnFull", "definition.", 0, 0, 1);
  if (!strat) return strat.status();
  d.strategy = static_cast<StrategyOnFull>(*strat);
  auto pers = intField(def, "persistence", "definition.", 0, 0, 1);
  if (!pers) return pers.status();
  d.persistence = static_cast<Persistence>(*pers);
  if (const json* f = field(def, "flushOnWrite")) {
    if (!f->is_boolean()) return Status::invalid("definition.flushOnWrite must be a boolean");
    d.flush_on_write = f->get<bool>();
  }
  if (const json* e = field(def, "exportDefinition")) {
    if (!e->is_object()) return Status::invalid("definition.exportDefinition must be a map");
    d.export_definition = *e;
  }
  return d;
}

Result<ReadOptions> parseReadOptions(const json& opts, int64_t max_timeout_ms) {
  ReadOptions o;
  if (opts.is_null()) return o;
  if (!opts.is_object()) return Status::invalid("readMessagesOptions must be a map");
  const std::string w = "readMessagesOptions.";
  auto start =
      intField(opts, "desiredStartSequenceNumber", w, 0, 0, std::numeric_limits<int64_t>::max());
  if (!start) return start.status();
  auto minc = intField(opts, "minMessageCount", w, 1, 1, 2147483647);
  if (!minc) return minc.status();
  auto maxc = intField(opts, "maxMessageCount", w, std::max<int64_t>(1, *minc), 1, 2147483647);
  if (!maxc) return maxc.status();
  auto to = intField(opts, "readTimeoutMillis", w, 0, 0, max_timeout_ms);
  if (!to) return to.status();
  if (*maxc < *minc) {
    return Status::invalid(w + "maxMessageCount (" + std::to_string(*maxc) +
                           ") must be >= minMessageCount (" + std::to_string(*minc) + ")");
  }
  o.start = *start;
  o.min_count = *minc;
  o.max_count = *maxc;
  o.timeout_ms = *to;
  return o;
}

}  // namespace evg::streammgr
