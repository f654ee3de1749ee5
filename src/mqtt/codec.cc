#include "mqtt/codec.h"

#include <utility>

#include "mqtt/topic.h"

namespace evg::mqtt {

std::string_view packetTypeName(PacketType t) {
  switch (t) {
    case PacketType::kConnect:
      return "CONNECT";
    case PacketType::kConnack:
      return "CONNACK";
    case PacketType::kPublish:
      return "PUBLISH";
    case PacketType::kPuback:
      return "PUBACK";
    case PacketType::kPubrec:
      return "PUBREC";
    case PacketType::kPubrel:
      return "PUBREL";
    case PacketType::kPubcomp:
      return "PUBCOMP";
    case PacketType::kSubscribe:
      return "SUBSCRIBE";
    case PacketType::kSuback:
      return "SUBACK";
    case PacketType::kUnsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::kUnsuback:
      return "UNSUBACK";
    case PacketType::kPingreq:
      return "PINGREQ";
    case PacketType::kPingresp:
      return "PINGRESP";
    case PacketType::kDisconnect:
      return "DISCONNECT";
  }
  return "RESERVED";
}

namespace {

// Bounds-checked reader over one packet body. Each read names the field it was reading so a
// truncated packet yields "PUBLISH: truncated topic name".
class Reader {
 public:
  Reader(std::string_view data, std::string_view packet) : data_(data), packet_(packet) {}

  size_t remaining() const { return data_.size() - pos_; }

  Status u8(uint8_t* v, std::string_view field) {
    if (remaining() < 1) return truncated(field);
    *v = static_cast<uint8_t>(data_[pos_++]);
    return Status::ok();
  }
  Status u16(uint16_t* v, std::string_view field) {
    if (remaining() < 2) return truncated(field);
    *v = static_cast<uint16_t>((static_cast<uint8_t>(data_[pos_]) << 8) |
                               static_cast<uint8_t>(data_[pos_ + 1]));
    pos_ += 2;
    return Status::ok();
  }
  // Length-prefixed bytes (spec §1.5.3 without the UTF-8 check).
  Status binary(std::string_view* v, std::string_view field) {
    uint16_t len = 0;
    EVG_RETURN_IF_ERROR(u16(&len, field));
    if (remaining() < len) return truncated(field);
    *v = data_.substr(pos_, len);
    pos_ += len;
    return Status::ok();
  }
  // Length-prefixed UTF-8 string (spec §1.5.3).
  Status utf8(std::string_view* v, std::string_view field) {
    EVG_RETURN_IF_ERROR(binary(v, field));
    if (!isValidMqttUtf8(*v)) return error(std::string(field) + " is not valid UTF-8");
    return Status::ok();
  }
  std::string_view rest() {
    std::string_view r = data_.substr(pos_);
    pos_ = data_.size();
    return r;
  }
  Status expectEnd() const {
    if (remaining() != 0) {
      return error(std::to_string(remaining()) + " trailing bytes after the packet");
    }
    return Status::ok();
  }
  Status error(std::string_view what) const {
    return Status::invalid(std::string(packet_) + ": " + std::string(what));
  }

 private:
  Status truncated(std::string_view field) const {
    return error("truncated " + std::string(field));
  }
  std::string_view data_;
  std::string_view packet_;
  size_t pos_ = 0;
};

Status nonZeroId(const Reader& r, uint16_t id) {
  if (id == 0) return r.error("packet identifier 0 is not allowed");
  return Status::ok();
}

Result<Packet> decodeConnect(Reader& r) {
  Connect c;
  std::string_view name;
  EVG_RETURN_IF_ERROR(r.binary(&name, "protocol name"));
  c.protocol_name = std::string(name);
  EVG_RETURN_IF_ERROR(r.u8(&c.protocol_level, "protocol level"));
  if (name != "MQTT" && name != "MQIsdp") {
    return r.error("bad protocol name '" + std::string(name) + "' (expected 'MQTT')");
  }
  // Another protocol version: report it without parsing a layout we don't know; the server
  // answers CONNACK 1.
  if (c.protocol_level != kProtocolLevel311) return Packet(std::move(c));
  if (name != "MQTT") return r.error("protocol name must be 'MQTT' for protocol level 4");
  uint8_t flags = 0;
  EVG_RETURN_IF_ERROR(r.u8(&flags, "connect flags"));
  if (flags & 0x01) return r.error("reserved connect flag bit 0 is set");
  c.clean_session = flags & 0x02;
  bool will = flags & 0x04;
  uint8_t will_qos = (flags >> 3) & 0x03;
  bool will_retain = flags & 0x20;
  bool has_password = flags & 0x40;
  bool has_username = flags & 0x80;
  if (will_qos == 3) return r.error("invalid will QoS 3");
  if (!will && (will_qos != 0 || will_retain)) {
    return r.error("will QoS/retain set without the will flag");
  }
  if (has_password && !has_username) return r.error("password flag set without username flag");
  EVG_RETURN_IF_ERROR(r.u16(&c.keep_alive, "keep alive"));
  std::string_view v;
  EVG_RETURN_IF_ERROR(r.utf8(&v, "client identifier"));
  c.client_id = std::string(v);
  if (will) {
    Will w;
    EVG_RETURN_IF_ERROR(r.utf8(&v, "will topic"));
    if (Status s = validateTopicName(v); !s.isOk()) return s.withContext("CONNECT: will ");
    w.topic = std::string(v);
    EVG_RETURN_IF_ERROR(r.binary(&v, "will message"));
    w.payload = std::string(v);
    w.qos = will_qos;
    w.retain = will_retain;
    c.will = std::move(w);
  }
  if (has_username) {
    EVG_RETURN_IF_ERROR(r.utf8(&v, "user name"));
    c.username = std::string(v);
  }
  if (has_password) {
    EVG_RETURN_IF_ERROR(r.binary(&v, "password"));
    c.password = std::string(v);
  }
  EVG_RETURN_IF_ERROR(r.expectEnd());
  return Packet(std::move(c));
}

Result<Packet> decodePublish(uint8_t flags, Reader& r) {
  Publish p;
  p.dup = flags & 0x08;
  p.qos = (flags >> 1) & 0x03;
  p.retain = flags & 0x01;
  if (p.qos == 3) return r.error("invalid QoS 3");
  if (p.qos == 0 && p.dup) return r.error("DUP flag set on a QoS 0 message");
  std::string_view topic;
  EVG_RETURN_IF_ERROR(r.binary(&topic, "topic name"));
  if (Status s = validateTopicName(topic); !s.isOk()) return s.withContext("PUBLISH: ");
  p.topic = std::string(topic);
  if (p.qos > 0) {
    EVG_RETURN_IF_ERROR(r.u16(&p.packet_id, "packet identifier"));
    EVG_RETURN_IF_ERROR(nonZeroId(r, p.packet_id));
  }
  p.payload = std::make_shared<const std::string>(r.rest());
  return Packet(std::move(p));
}

template <typename T>
Result<Packet> decodeIdOnly(Reader& r) {
  T t;
  EVG_RETURN_IF_ERROR(r.u16(&t.packet_id, "packet identifier"));
  EVG_RETURN_IF_ERROR(nonZeroId(r, t.packet_id));
  EVG_RETURN_IF_ERROR(r.expectEnd());
  return Packet(std::move(t));
}

Result<Packet> decodeSubscribe(Reader& r) {
  Subscribe s;
  EVG_RETURN_IF_ERROR(r.u16(&s.packet_id, "packet identifier"));
  EVG_RETURN_IF_ERROR(nonZeroId(r, s.packet_id));
  if (r.remaining() == 0) return r.error("no topic filters (empty SUBSCRIBE)");
  while (r.remaining() > 0) {
    std::string_view filter;
    EVG_RETURN_IF_ERROR(r.binary(&filter, "topic filter"));
    if (Status st = validateTopicFilter(filter); !st.isOk()) return st.withContext("SUBSCRIBE: ");
    uint8_t qos = 0;
    EVG_RETURN_IF_ERROR(r.u8(&qos, "requested QoS"));
    if (qos & 0xFC) return r.error("reserved bits set in requested QoS byte");
    if (qos == 3) return r.error("invalid requested QoS 3");
    s.topics.push_back({std::string(filter), qos});
  }
  return Packet(std::move(s));
}

Result<Packet> decodeSuback(Reader& r) {
  Suback s;
  EVG_RETURN_IF_ERROR(r.u16(&s.packet_id, "packet identifier"));
  EVG_RETURN_IF_ERROR(nonZeroId(r, s.packet_id));
  if (r.remaining() == 0) return r.error("no return codes");
  for (char ch : r.rest()) {
    auto code = static_cast<uint8_t>(ch);
    if (code > 2 && code != kSubackFailure) {
      return r.error("invalid return code " + std::to_string(code));
    }
    s.return_codes.push_back(code);
  }
  return Packet(std::move(s));
}

Result<Packet> decodeUnsubscribe(Reader& r) {
  Unsubscribe u;
  EVG_RETURN_IF_ERROR(r.u16(&u.packet_id, "packet identifier"));
  EVG_RETURN_IF_ERROR(nonZeroId(r, u.packet_id));
  if (r.remaining() == 0) return r.error("no topic filters (empty UNSUBSCRIBE)");
  while (r.remaining() > 0) {
    std::string_view filter;
    EVG_RETURN_IF_ERROR(r.binary(&filter, "topic filter"));
    if (Status st = validateTopicFilter(filter); !st.isOk()) {
      return st.withContext("UNSUBSCRIBE: ");
    }
    u.filters.emplace_back(filter);
  }
  return Packet(std::move(u));
}

template <typename T>
Result<Packet> decodeEmpty(Reader& r) {
  EVG_RETURN_IF_ERROR(r.expectEnd());
  return Packet(T{});
}

}  // namespace

Result<size_t> parseFixedHeader(std::string_view data, uint32_t* remaining) {
  uint32_t value = 0;
  for (size_t i = 1; i <= 4; ++i) {
    if (i >= data.size()) return size_t{0};
    auto b = static_cast<uint8_t>(data[i]);
    value |= static_cast<uint32_t>(b & 0x7F) << (7 * (i - 1));
    if ((b & 0x80) == 0) {
      *remaining = value;
      return i + 1;
    }
  }
  return Status::invalid("malformed remaining length (more than 4 bytes)");
}

Status checkFirstByte(uint8_t first_byte) {
  const uint8_t type = first_byte >> 4;
  const uint8_t flags = first_byte & 0x0F;
  if (type == 0 || type == 15) {
    return Status::invalid("reserved packet type " + std::to_string(type));
  }
  const auto ptype = static_cast<PacketType>(type);
  if (ptype == PacketType::kPublish) {
    if (((flags >> 1) & 0x03) == 3) return Status::invalid("PUBLISH: invalid QoS 3");
    return Status::ok();
  }
  const bool needs_two = ptype == PacketType::kPubrel || ptype == PacketType::kSubscribe ||
                         ptype == PacketType::kUnsubscribe;
  const uint8_t expected = needs_two ? 0x02 : 0x00;
  if (flags != expected) {
    return Status::invalid(std::string(packetTypeName(ptype)) +
                           ": reserved fixed-header flag bits are " + std::to_string(flags) +
                           ", must be " + std::to_string(expected));
  }
  return Status::ok();
}

Result<Packet> decodeBody(uint8_t first_byte, std::string_view body) {
  EVG_RETURN_IF_ERROR(checkFirstByte(first_byte));
  const uint8_t flags = first_byte & 0x0F;
  const auto ptype = static_cast<PacketType>(first_byte >> 4);
  const std::string_view name = packetTypeName(ptype);
  Reader r(body, name);
  switch (ptype) {
    case PacketType::kConnect:
      return decodeConnect(r);
    case PacketType::kConnack: {
      Connack c;
      uint8_t ack = 0;
      EVG_RETURN_IF_ERROR(r.u8(&ack, "acknowledge flags"));
      if (ack & 0xFE) return r.error("reserved acknowledge flag bits are set");
      c.session_present = ack & 0x01;
      EVG_RETURN_IF_ERROR(r.u8(&c.return_code, "return code"));
      EVG_RETURN_IF_ERROR(r.expectEnd());
      return Packet(c);
    }
    case PacketType::kPublish:
      return decodePublish(flags, r);
    case PacketType::kPuback:
      return decodeIdOnly<Puback>(r);
    case PacketType::kPubrec:
      return decodeIdOnly<Pubrec>(r);
    case PacketType::kPubrel:
      return decodeIdOnly<Pubrel>(r);
    case PacketType::kPubcomp:
      return decodeIdOnly<Pubcomp>(r);
    case PacketType::kSubscribe:
      return decodeSubscribe(r);
    case PacketType::kSuback:
      return decodeSuback(r);
    case PacketType::kUnsubscribe:
      return decodeUnsubscribe(r);
    case PacketType::kUnsuback:
      return decodeIdOnly<Unsuback>(r);
    case PacketType::kPingreq:
      return decodeEmpty<Pingreq>(r);
    case PacketType::kPingresp:
      return decodeEmpty<Pingresp>(r);
    case PacketType::kDisconnect:
      return decodeEmpty<Disconnect>(r);
  }
  return Status::internal("unreachable packet type");
}

void Decoder::feed(std::string_view bytes) {
  if (error_ || bytes.empty()) return;
  if (!spill_) spill_ = std::make_unique<Spill>();
  spill_->buf.append(bytes);
}

Status Decoder::fail(Status s) {
  error_ = std::make_unique<Status>(std::move(s));
  spill_.reset();
  return *error_;
}

Result<std::optional<Packet>> Decoder::parseOne(std::string_view data, size_t* used) {
  *used = 0;
  if (data.empty()) return std::optional<Packet>();
  // Reject a bad first byte at once, without waiting for a body that may never come.
  if (Status s = checkFirstByte(static_cast<uint8_t>(data[0])); !s.isOk()) {
    return fail(std::move(s));
  }
  uint32_t remaining = 0;
  Result<size_t> hdr = parseFixedHeader(data, &remaining);
  if (!hdr.isOk()) {
    return fail(hdr.status());
  }
  if (*hdr == 0) return std::optional<Packet>();
  if (remaining > options_.max_packet_size) {
    return fail(Status::tooLarge(
        std::string(packetTypeName(static_cast<PacketType>(static_cast<uint8_t>(data[0]) >> 4))) +
        ": packet of " + std::to_string(remaining) + " bytes exceeds the limit of " +
        std::to_string(options_.max_packet_size)));
  }
  if (data.size() - *hdr < remaining) return std::optional<Packet>();
  Result<Packet> p = decodeBody(static_cast<uint8_t>(data[0]), data.substr(*hdr, remaining));
  if (!p.isOk()) {
    return fail(p.status());
  }
  *used = *hdr + remaining;
  return std::optional<Packet>(std::move(*p));
}

Result<std::optional<Packet>> Decoder::next() {
  if (error_) return *error_;
  if (!spill_) return std::optional<Packet>();
  std::string& buf = spill_->buf;
  size_t& pos = spill_->pos;
  size_t used = 0;
  auto r = parseOne(std::string_view(buf.data() + pos, buf.size() - pos), &used);
  if (!r.isOk() || !r->has_value()) return r;
  pos += used;
  if (pos == buf.size()) {
    spill_.reset();  // all consumed: an idle connection keeps no buffer
  } else if (pos >= 64 * 1024 && pos * 2 >= buf.size()) {
    buf.erase(0, pos);
    pos = 0;
  }
  return r;
}

// ---- Encoder ----

namespace {

void putU16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}
void putString(std::string& out, std::string_view s) {
  putU16(out, s.size());
  out.append(s);
}
void putHeader(std::string& out, uint8_t first, size_t remaining) {
  out.push_back(static_cast<char>(first));
  encodeRemainingLength(out, remaining);
}
uint8_t typeByte(PacketType t, uint8_t flags = 0) {
  return static_cast<uint8_t>((static_cast<uint8_t>(t) << 4) | flags);
}

struct EncodeVisitor {
  std::string& out;

  void operator()(const Connect& c) const {
    size_t len = 2 + c.protocol_name.size() + 1 + 1 + 2 + 2 + c.client_id.size();
    uint8_t flags = c.clean_session ? 0x02 : 0;
    if (c.will) {
      flags |= 0x04 | static_cast<uint8_t>(c.will->qos << 3) | (c.will->retain ? 0x20 : 0);
      len += 2 + c.will->topic.size() + 2 + c.will->payload.size();
    }
    if (c.username) {
      flags |= 0x80;
      len += 2 + c.username->size();
    }
    if (c.password) {
      flags |= 0x40;
      len += 2 + c.password->size();
    }
    putHeader(out, typeByte(PacketType::kConnect), len);
    putString(out, c.protocol_name);
    out.push_back(static_cast<char>(c.protocol_level));
    out.push_back(static_cast<char>(flags));
    putU16(out, c.keep_alive);
    putString(out, c.client_id);
    if (c.will) {
      putString(out, c.will->topic);
      putString(out, c.will->payload);
    }
    if (c.username) putString(out, *c.username);
    if (c.password) putString(out, *c.password);
  }
  void operator()(const Connack& c) const {
    putHeader(out, typeByte(PacketType::kConnack), 2);
    out.push_back(c.session_present ? 1 : 0);
    out.push_back(static_cast<char>(c.return_code));
  }
  void operator()(const Publish& p) const {
    std::string_view payload = p.payloadView();
    encodePublishHeader(out, p.topic, p.qos, p.retain, p.dup, p.packet_id, payload.size());
    out.append(payload);
  }
  void idOnly(PacketType t, uint16_t id, uint8_t flags = 0) const {
    putHeader(out, typeByte(t, flags), 2);
    putU16(out, id);
  }
  void operator()(const Puback& p) const { idOnly(PacketType::kPuback, p.packet_id); }
  void operator()(const Pubrec& p) const { idOnly(PacketType::kPubrec, p.packet_id); }
  void operator()(const Pubrel& p) const { idOnly(PacketType::kPubrel, p.packet_id, 0x02); }
  void operator()(const Pubcomp& p) const { idOnly(PacketType::kPubcomp, p.packet_id); }
  void operator()(const Unsuback& p) const { idOnly(PacketType::kUnsuback, p.packet_id); }
  void operator()(const Subscribe& s) const {
    size_t len = 2;
    for (const auto& t : s.topics) len += 2 + t.filter.size() + 1;
    putHeader(out, typeByte(PacketType::kSubscribe, 0x02), len);
    putU16(out, s.packet_id);
    for (const auto& t : s.topics) {
      putString(out, t.filter);
      out.push_back(static_cast<char>(t.qos));
    }
  }
  void operator()(const Suback& s) const {
    putHeader(out, typeByte(PacketType::kSuback), 2 + s.return_codes.size());
    putU16(out, s.packet_id);
    for (uint8_t c : s.return_codes) out.push_back(static_cast<char>(c));
  }
  void operator()(const Unsubscribe& u) const {
    size_t len = 2;
    for (const auto& f : u.filters) len += 2 + f.size();
    putHeader(out, typeByte(PacketType::kUnsubscribe, 0x02), len);
    putU16(out, u.packet_id);
    for (const auto& f : u.filters) putString(out, f);
  }
  void operator()(const Pingreq&) const { putHeader(out, typeByte(PacketType::kPingreq), 0); }
  void operator()(const Pingresp&) const { putHeader(out, typeByte(PacketType::kPingresp), 0); }
  void operator()(const Disconnect&) const { putHeader(out, typeByte(PacketType::kDisconnect), 0); }
};

}  // namespace

void encodeRemainingLength(std::string& out, size_t value) {
  do {
    auto b = static_cast<uint8_t>(value & 0x7F);
    value >>= 7;
    if (value > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (value > 0);
}

void encodePublishHeader(std::string& out, std::string_view topic, uint8_t qos, bool retain,
                         bool dup, uint16_t packet_id, size_t payload_size) {
  uint8_t flags = static_cast<uint8_t>((dup ? 0x08 : 0) | ((qos & 0x03) << 1) | (retain ? 1 : 0));
  size_t len = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload_size;
  putHeader(out, typeByte(PacketType::kPublish, flags), len);
  putString(out, topic);
  if (qos > 0) putU16(out, packet_id);
}

void encode(const Packet& packet, std::string& out) { std::visit(EncodeVisitor{out}, packet); }

std::string encode(const Packet& packet) {
  std::string out;
  encode(packet, out);
  return out;
}

}  // namespace evg::mqtt
