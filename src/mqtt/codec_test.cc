#include "mqtt/codec.h"

#include <gtest/gtest.h>

#include <string>

namespace evg::mqtt {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

// Decodes exactly one packet from `wire` (fed in one go) and expects no leftover.
Result<Packet> decodeOne(const std::string& wire, DecoderOptions opts = {}) {
  Decoder d(opts);
  d.feed(wire);
  auto r = d.next();
  if (!r.isOk()) return r.status();
  if (!r->has_value()) return Status::invalid("incomplete");
  if (d.buffered() != 0) return Status::invalid("leftover bytes");
  return std::move(**r);
}

Status decodeError(const std::string& wire) {
  Decoder d;
  d.feed(wire);
  auto r = d.next();
  if (r.isOk()) return Status::ok();
  return r.status();
}

void expectRoundTrip(const Packet& p) {
  std::string wire = encode(p);
  // Whole buffer.
  auto r = decodeOne(wire);
  ASSERT_TRUE(r.isOk()) << packetTypeName(packetType(p)) << ": " << r.status().toString();
  EXPECT_EQ(*r, p) << packetTypeName(packetType(p));
  // Byte by byte: nothing before the last byte, the packet after it.
  Decoder d;
  for (size_t i = 0; i < wire.size(); ++i) {
    d.feed(std::string_view(wire).substr(i, 1));
    auto n = d.next();
    ASSERT_TRUE(n.isOk()) << n.status().toString();
    EXPECT_EQ(n->has_value(), i + 1 == wire.size()) << "at byte " << i;
    if (n->has_value()) {
      EXPECT_EQ(**n, p);
    }
  }
}

TEST(CodecTest, RoundTripEveryPacketType) {
  Connect c;
  c.client_id = "thing-1";
  c.keep_alive = 60;
  c.clean_session = false;
  c.will = Will{"will/topic", std::string("bye\0x", 5), 1, true};
  c.username = "user";
  c.password = std::string("p\0ss", 4);
  expectRoundTrip(c);
  expectRoundTrip(Connect{});
  expectRoundTrip(Connack{true, 0});
  expectRoundTrip(Connack{false, kConnackNotAuthorized});
  Publish p0;
  p0.topic = "a/b";
  p0.payload = std::make_shared<const std::string>("hello");
  p0.retain = true;
  expectRoundTrip(p0);
  Publish p2 = p0;
  p2.qos = 2;
  p2.dup = true;
  p2.packet_id = 65535;
  p2.payload = std::make_shared<const std::string>();
  expectRoundTrip(p2);
  expectRoundTrip(Puback{1});
  expectRoundTrip(Pubrec{2});
  expectRoundTrip(Pubrel{3});
  expectRoundTrip(Pubcomp{4});
  expectRoundTrip(Subscribe{5, {{"a/+/c", 0}, {"#", 2}, {"$SYS/x", 1}}});
  expectRoundTrip(Suback{6, {0, 1, 2, 0x80}});
  expectRoundTrip(Unsubscribe{7, {"a/#", "b"}});
  expectRoundTrip(Unsuback{8});
  expectRoundTrip(Pingreq{});
  expectRoundTrip(Pingresp{});
  expectRoundTrip(Disconnect{});
}

TEST(CodecTest, KnownWireBytes) {
  EXPECT_EQ(encode(Pingreq{}), bytes({0xC0, 0x00}));
  EXPECT_EQ(encode(Disconnect{}), bytes({0xE0, 0x00}));
  EXPECT_EQ(encode(Pubrel{0x1234}), bytes({0x62, 0x02, 0x12, 0x34}));
  EXPECT_EQ(encode(Connack{true, 0}), bytes({0x20, 0x02, 0x01, 0x00}));
  Publish p;
  p.topic = "t";
  p.qos = 1;
  p.packet_id = 10;
  p.payload = std::make_shared<const std::string>("x");
  EXPECT_EQ(encode(p), bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x0A, 'x'}));
}

TEST(CodecTest, PublishHeaderPlusPayloadEqualsFullEncoding) {
  Publish p;
  p.topic = "sensors/temp";
  p.qos = 1;
  p.packet_id = 77;
  p.payload = std::make_shared<const std::string>(std::string(300, 'z'));
  std::string head;
  encodePublishHeader(head, p.topic, 1, false, false, 77, p.payload->size());
  EXPECT_EQ(head + *p.payload, encode(p));
}

TEST(CodecTest, RemainingLengthBoundaries) {
  for (size_t v : {0ul, 127ul, 128ul, 16383ul, 16384ul, 2097151ul, 2097152ul, 268435455ul}) {
    std::string s(1, '\x30');
    encodeRemainingLength(s, v);
    uint32_t got = 0;
    auto n = parseFixedHeader(s, &got);
    ASSERT_TRUE(n.isOk());
    EXPECT_EQ(*n, s.size());
    EXPECT_EQ(got, v);
  }
  // Large remaining lengths survive the 128/16384 boundary in a real packet.
  Publish p;
  p.topic = "big";
  p.payload = std::make_shared<const std::string>(std::string(20000, 'q'));
  expectRoundTrip(p);
}

TEST(CodecTest, RemainingLengthOverFourBytesIsInvalid) {
  Status s = decodeError(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("remaining length"), std::string::npos) << s.message();
}

TEST(CodecTest, IncompleteHeaderNeedsMoreBytes) {
  Decoder d;
  d.feed(bytes({0x30, 0xFF, 0xFF}));
  auto r = d.next();
  ASSERT_TRUE(r.isOk());
  EXPECT_FALSE(r->has_value());
}

TEST(CodecTest, MaxPacketSizeIsEnforcedFromTheHeader) {
  Decoder d(DecoderOptions{100});
  std::string head;
  encodePublishHeader(head, "t", 0, false, false, 0, 200);
  d.feed(head);  // only the header: the limit is known before the body arrives
  auto r = d.next();
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
  EXPECT_NE(r.status().message().find("PUBLISH"), std::string::npos);
  // Sticky.
  d.feed(bytes({0xC0, 0x00}));
  EXPECT_FALSE(d.next().isOk());
}

TEST(CodecTest, ReservedFlagBitsAreInvalid) {
  EXPECT_NE(decodeError(bytes({0xC1, 0x00})).message().find("PINGREQ: reserved"),
            std::string::npos);
  EXPECT_FALSE(decodeError(bytes({0x60, 0x02, 0x00, 0x01})).isOk());  // PUBREL needs 0x2
  EXPECT_FALSE(decodeError(bytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00})).isOk());
  EXPECT_FALSE(decodeError(bytes({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'})).isOk());
  EXPECT_FALSE(decodeError(bytes({0x00, 0x00})).isOk());  // reserved type 0
  EXPECT_FALSE(decodeError(bytes({0xF0, 0x00})).isOk());  // reserved type 15
  // CONNACK reserved ack flags.
  EXPECT_FALSE(decodeError(bytes({0x20, 0x02, 0x02, 0x00})).isOk());
}

TEST(CodecTest, BadFirstByteFailsBeforeTheBodyArrives) {
  Decoder d;
  d.feed("GET / HTTP/1.1\r\n");  // 'G' = PUBACK with flags 7, remaining length 69
  auto r = d.next();
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("PUBACK: reserved"), std::string::npos);
}

TEST(CodecTest, PublishQos3AndDupOnQos0AreInvalid) {
  Status s = decodeError(bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}));
  EXPECT_NE(s.message().find("QoS 3"), std::string::npos) << s.message();
  s = decodeError(bytes({0x38, 0x03, 0x00, 0x01, 't'}));
  EXPECT_NE(s.message().find("DUP"), std::string::npos) << s.message();
}

TEST(CodecTest, PacketIdZeroIsInvalidWhereForbidden) {
  EXPECT_NE(decodeError(bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}))
                .message()
                .find("packet identifier 0"),
            std::string::npos);
  EXPECT_FALSE(decodeError(bytes({0x40, 0x02, 0x00, 0x00})).isOk());
  EXPECT_FALSE(decodeError(bytes({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00})).isOk());
  EXPECT_FALSE(decodeError(bytes({0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'})).isOk());
}

TEST(CodecTest, PublishTopicRules) {
  // Wildcards.
  Status s = decodeError(bytes({0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}));
  EXPECT_NE(s.message().find("wildcard"), std::string::npos) << s.message();
  EXPECT_FALSE(decodeError(bytes({0x30, 0x03, 0x00, 0x01, '+'})).isOk());
  // Empty topic.
  EXPECT_FALSE(decodeError(bytes({0x30, 0x02, 0x00, 0x00})).isOk());
  // Bad UTF-8: lone continuation byte, overlong '/', U+0000, surrogate U+D800.
  s = decodeError(bytes({0x30, 0x03, 0x00, 0x01, 0x80}));
  EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();
  EXPECT_FALSE(decodeError(bytes({0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF})).isOk());
  EXPECT_FALSE(decodeError(bytes({0x30, 0x03, 0x00, 0x01, 0x00})).isOk());
  EXPECT_FALSE(decodeError(bytes({0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80})).isOk());
  // Valid multi-byte UTF-8 is fine.
  auto ok = decodeOne(bytes({0x30, 0x05, 0x00, 0x03, 0xE2, 0x82, 0xAC}));
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(std::get<Publish>(*ok).topic, "\xE2\x82\xAC");
}

TEST(CodecTest, SubscribeRules) {
  Status s = decodeError(bytes({0x82, 0x02, 0x00, 0x01}));
  EXPECT_NE(s.message().find("empty SUBSCRIBE"), std::string::npos) << s.message();
  s = decodeError(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}));
  EXPECT_NE(s.message().find("QoS 3"), std::string::npos) << s.message();
  s = decodeError(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x40}));
  EXPECT_NE(s.message().find("reserved"), std::string::npos) << s.message();
  // Bad filter: '#' not last.
  EXPECT_FALSE(
      decodeError(bytes({0x82, 0x08, 0x00, 0x01, 0x00, 0x03, '#', '/', 'a', 0x00})).isOk());
  // Truncated filter (length says 5, only 1 byte).
  s = decodeError(bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x05, 'a'}));
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  // Missing QoS byte.
  EXPECT_FALSE(decodeError(bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'})).isOk());
  EXPECT_FALSE(decodeError(bytes({0xA2, 0x02, 0x00, 0x01})).isOk());        // empty UNSUBSCRIBE
  EXPECT_FALSE(decodeError(bytes({0x90, 0x03, 0x00, 0x01, 0x03})).isOk());  // SUBACK code 3
}

TEST(CodecTest, ConnectRules) {
  Connect c;
  c.client_id = "x";
  std::string good = encode(c);
  ASSERT_TRUE(decodeOne(good).isOk());

  // Wrong protocol name.
  Connect bad_name = c;
  bad_name.protocol_name = "MQTX";
  Status s = decodeError(encode(bad_name));
  EXPECT_NE(s.message().find("protocol name"), std::string::npos) << s.message();

  // Other protocol levels decode (so the server can answer CONNACK 1), fields after it ignored.
  Connect v5 = c;
  v5.protocol_level = 5;
  auto r = decodeOne(encode(v5));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(std::get<Connect>(*r).protocol_level, 5);
  Connect v3 = c;
  v3.protocol_name = "MQIsdp";
  v3.protocol_level = 3;
  r = decodeOne(encode(v3));
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(std::get<Connect>(*r).protocol_level, 3);

  // Reserved flag bit 0 (byte 9 of the packet: 2 header + 6 name + 1 level).
  std::string w = good;
  w[9] = static_cast<char>(w[9] | 0x01);
  EXPECT_NE(decodeError(w).message().find("reserved connect flag"), std::string::npos);
  // Will QoS 3.
  Connect cw = c;
  cw.will = Will{"w", "m", 1, false};
  w = encode(cw);
  w[9] = static_cast<char>(w[9] | 0x18);
  EXPECT_NE(decodeError(w).message().find("will QoS 3"), std::string::npos);
  // Will QoS without will flag.
  w = good;
  w[9] = static_cast<char>(w[9] | 0x08);
  EXPECT_FALSE(decodeError(w).isOk());
  // Password without username.
  Connect cp = c;
  cp.password = "pw";
  EXPECT_NE(decodeError(encode(cp)).message().find("password flag"), std::string::npos);
  // Will topic with wildcard.
  Connect cwild = c;
  cwild.will = Will{"a/#", "m", 0, false};
  EXPECT_FALSE(decodeError(encode(cwild)).isOk());
  // Truncated client id.
  w = good;
  w[1] = static_cast<char>(w[1] - 1);
  w.pop_back();
  s = decodeError(w);
  EXPECT_NE(s.message().find("truncated client identifier"), std::string::npos) << s.message();
  // Trailing bytes.
  w = good;
  w[1] = static_cast<char>(w[1] + 1);
  w.push_back('!');
  s = decodeError(w);
  EXPECT_NE(s.message().find("trailing"), std::string::npos) << s.message();
}

TEST(CodecTest, TrailingBytesInFixedSizePackets) {
  EXPECT_NE(decodeError(bytes({0x40, 0x03, 0x00, 0x01, 0x00})).message().find("trailing"),
            std::string::npos);
  EXPECT_FALSE(decodeError(bytes({0xC0, 0x01, 0x00})).isOk());
  EXPECT_FALSE(decodeError(bytes({0x20, 0x03, 0x00, 0x00, 0x00})).isOk());
  // Truncated: PUBACK with one id byte.
  EXPECT_NE(decodeError(bytes({0x40, 0x01, 0x00})).message().find("truncated"), std::string::npos);
}

TEST(CodecTest, ManyPacketsInOneFeed) {
  std::string wire;
  for (uint16_t i = 1; i <= 100; ++i) encode(Puback{i}, wire);
  encode(Pingreq{}, wire);
  wire += bytes({0x40});  // first byte of a further packet
  Decoder d;
  d.feed(wire);
  for (uint16_t i = 1; i <= 100; ++i) {
    auto r = d.next();
    ASSERT_TRUE(r.isOk() && r->has_value());
    EXPECT_EQ(std::get<Puback>(**r).packet_id, i);
  }
  auto r = d.next();
  ASSERT_TRUE(r.isOk() && r->has_value());
  EXPECT_TRUE(std::holds_alternative<Pingreq>(**r));
  r = d.next();
  ASSERT_TRUE(r.isOk());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(d.buffered(), 1u);
  d.feed(bytes({0x02, 0x00, 0x09}));
  r = d.next();
  ASSERT_TRUE(r.isOk() && r->has_value());
  EXPECT_EQ(std::get<Puback>(**r).packet_id, 9);
}

// consume(): zero-copy decoding straight from the read; only a packet split across reads is
// buffered, and nothing stays buffered once it is complete.
TEST(CodecTest, ConsumeDecodesInPlaceAndBuffersOnlyASplitPacket) {
  std::string wire;
  for (uint16_t i = 1; i <= 50; ++i) encode(Puback{i}, wire);
  Publish pub;
  pub.topic = "a/b";
  pub.qos = 1;
  pub.packet_id = 7;
  pub.payload = std::make_shared<const std::string>(std::string(3000, 'x'));
  encode(pub, wire);
  for (size_t step : {wire.size(), size_t{1}, size_t{7}, size_t{1000}}) {
    SCOPED_TRACE(step);
    Decoder d;
    std::vector<uint16_t> acks;
    size_t payload = 0;
    for (size_t off = 0; off < wire.size(); off += step) {
      std::string chunk = wire.substr(off, step);  // freed after the call: must not be kept
      Status st = d.consume(chunk, [&](Packet&& p) {
        if (auto* a = std::get_if<Puback>(&p)) acks.push_back(a->packet_id);
        if (auto* q = std::get_if<Publish>(&p)) payload = q->payload->size();
        return true;
      });
      ASSERT_TRUE(st.isOk()) << st.toString();
    }
    ASSERT_EQ(acks.size(), 50u);
    EXPECT_EQ(acks.back(), 50);
    EXPECT_EQ(payload, 3000u);
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(CodecTest, ConsumeStopsWhenAskedAndErrorsAreSticky) {
  std::string wire;
  for (uint16_t i = 1; i <= 3; ++i) encode(Puback{i}, wire);
  Decoder d;
  int seen = 0;
  ASSERT_TRUE(d.consume(wire, [&](Packet&&) { return ++seen < 2; }).isOk());
  EXPECT_EQ(seen, 2);
  Decoder bad;
  Status st = bad.consume(bytes({0x00, 0x00}), [](Packet&&) { return true; });
  EXPECT_FALSE(st.isOk());
  std::string ok;
  encode(Pingreq{}, ok);
  EXPECT_EQ(bad.consume(ok, [](Packet&&) { return true; }).message(), st.message());
}

}  // namespace
}  // namespace evg::mqtt
