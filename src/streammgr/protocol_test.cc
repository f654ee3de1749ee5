#include "streammgr/protocol.h"

#include <gtest/gtest.h>

namespace evg::streammgr {
namespace {

using nlohmann::json;

TEST(Framing, EncodesLengthIncludingOpByte) {
  std::string f = encodeFrame(Op::kAppendMessage, "abc");
  ASSERT_EQ(f.size(), 8u);
  EXPECT_EQ(f.substr(0, 4), std::string("\0\0\0\4", 4));
  EXPECT_EQ(f[4], 4);
  EXPECT_EQ(f.substr(5), "abc");
}

TEST(Framing, DecodesSplitAndCoalescedFrames) {
  FrameDecoder d(1024);
  std::string both = encodeFrame(Op::kListStreams, "x") + encodeFrame(Op::kReadMessages, "yz");
  d.feed(both.substr(0, 3));
  auto r = d.next();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  d.feed(both.substr(3));
  r = d.next();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->op, Op::kListStreams);
  EXPECT_EQ((*r)->payload, "x");
  r = d.next();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->op, Op::kReadMessages);
  EXPECT_EQ((*r)->payload, "yz");
  r = d.next();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(Framing, UnknownOpKeepsRawByte) {
  FrameDecoder d(1024);
  d.feed(encodeFrame(uint8_t{99}, ""));
  auto r = d.next();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->op, Op::kUnknown);
  EXPECT_EQ((*r)->raw_op, 99);
}

TEST(Framing, RejectsOversizedAndNonPositiveLengths) {
  FrameDecoder d(16);
  d.feed(std::string("\0\0\0\x20", 4));
  auto r = d.next();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
  EXPECT_NE(r.status().message().find("maxFrameBytes"), std::string::npos);
  FrameDecoder z(16);
  z.feed(std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(z.next().status().code(), Code::kInvalid);
}

TEST(Cbor, BytesRoundTripAsBinary) {
  json j = {{"requestId", "r1"}, {"payload", bytesValue(std::string("\0\1\2", 3))}};
  auto back = decodeCbor(encodeCbor(j));
  ASSERT_TRUE(back);
  ASSERT_TRUE((*back)["payload"].is_binary());
  EXPECT_EQ((*back)["payload"].get_binary().size(), 3u);
}

TEST(Cbor, GarbageIsInvalidNotACrash) {
  EXPECT_FALSE(decodeCbor("\xff\x00\x13"));
  EXPECT_FALSE(decodeCbor(encodeCbor(json::array({1, 2}))));  // not a map
}

TEST(Cbor, HugeArrayHeaderIsInvalidNotAnException) {
  // Found by fuzz/streammgr_frame_fuzz: a CBOR header announcing more elements than max_size()
  // made nlohmann's DOM builder throw out_of_range.408 despite allow_exceptions=false.
  const std::string b(
      "\xa3\x69\x41\x72\x65\x71\x75\x65\x73\x74\xbb\x9b\x9e\x9c\x90\x8f\x8d\x90\x74\x6f\x63\x6f\x6c"
      "\x56\x65\x72\x73\x69\x6f\x6e\x65\x31\x2e\x31\x2e\x30\x6a\x21\x64\x6b\x56\x65\x72\x73\x69\x6f"
      "\x6e\x65\x31\x2e\x31\x2e",
      52);
  auto r = decodeCbor(b);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("excessive"), std::string::npos) << r.status().message();
}

TEST(Validation, StreamNames) {
  EXPECT_TRUE(validateStreamName("good name_1,.-", "name"));
  auto bad = validateStreamName("bad/name", "definition.name");
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("definition.name"), std::string::npos);
  EXPECT_FALSE(validateStreamName("", "name"));
  EXPECT_FALSE(validateStreamName(std::string(256, 'a'), "name"));
  EXPECT_FALSE(validateStreamName(5, "name"));
}

TEST(Validation, DefinitionRangesNameTheField) {
  json d = {{"name", "s"}, {"strategyOnFull", 0}};
  auto ok = parseDefinition(d);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->max_size, 268435456);
  EXPECT_EQ(ok->segment_size, 16777216);
  EXPECT_EQ(ok->persistence, Persistence::kFile);
  auto expectBad = [&](json def, const char* field_name) {
    auto r = parseDefinition(def);
    ASSERT_FALSE(r) << def.dump();
    EXPECT_NE(r.status().message().find(field_name), std::string::npos) << r.status().message();
  };
  expectBad({{"name", "s"}}, "strategyOnFull");
  expectBad({{"name", "s"}, {"strategyOnFull", 0}, {"maxSize", 1023}}, "maxSize");
  expectBad({{"name", "s"}, {"strategyOnFull", 0}, {"streamSegmentSize", 100}},
            "streamSegmentSize");
  expectBad({{"name", "s"}, {"strategyOnFull", 0}, {"timeToLiveMillis", 59999}},
            "timeToLiveMillis");
  expectBad({{"name", "s"}, {"strategyOnFull", 3}}, "strategyOnFull");
  expectBad({{"name", "s"}, {"strategyOnFull", 0}, {"persistence", 2}}, "persistence");
  expectBad({{"strategyOnFull", 0}}, "definition.name");
}

TEST(Validation, ReadOptions) {
  auto d = parseReadOptions(json(), 1000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->min_count, 1);
  EXPECT_EQ(d->max_count, 1);
  EXPECT_FALSE(parseReadOptions({{"minMessageCount", 0}}, 1000));
  EXPECT_FALSE(parseReadOptions({{"desiredStartSequenceNumber", -1}}, 1000));
  auto r = parseReadOptions({{"readTimeoutMillis", 1001}}, 1000);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("readTimeoutMillis"), std::string::npos);
  EXPECT_FALSE(parseReadOptions({{"minMessageCount", 5}, {"maxMessageCount", 2}}, 1000));
  EXPECT_TRUE(parseReadOptions({{"minMessageCount", 5}}, 1000));  // max follows min
}

TEST(StatusMapping, OnePlace) {
  EXPECT_EQ(statusCodeFor(Status::ok()), StatusCode::kSuccess);
  EXPECT_EQ(statusCodeFor(Status::notFound("x")), StatusCode::kResourceNotFound);
  EXPECT_EQ(statusCodeFor(Status::invalid("x")), StatusCode::kInvalidRequest);
  EXPECT_EQ(statusCodeFor(Status::tooLarge("x")), StatusCode::kRequestPayloadTooLarge);
  EXPECT_EQ(statusCodeFor(Status::conflict("x")), StatusCode::kUpdateNotAllowed);
  EXPECT_EQ(statusCodeFor(Status::unauthorized("x")), StatusCode::kUnauthorized);
}

}  // namespace
}  // namespace evg::streammgr
