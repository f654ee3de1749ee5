#include <gtest/gtest.h>

#include "cloud/drain.h"
#include "cloud/session.h"
#include "mqtt/codec.h"

namespace evg::cloud {
namespace {

struct Recorder : SessionEvents {
  int connected = 0;
  bool session_present = false;
  std::vector<uint16_t> pubacks;
  std::vector<mqtt::Publish> messages;
  std::vector<std::vector<uint8_t>> subacks;
  Drain* drain = nullptr;
  void onConnected(bool sp) override {
    ++connected;
    session_present = sp;
  }
  void onPuback(uint16_t id) override {
    pubacks.push_back(id);
    if (drain != nullptr) drain->onPuback(id);
  }
  void onMessage(const mqtt::Publish& p) override { messages.push_back(p); }
  void onSuback(uint16_t, const std::vector<uint8_t>& c) override { subacks.push_back(c); }
};

// Decodes every packet in (and clears) the session's output.
std::vector<mqtt::Packet> drainOutput(ClientSession& s) {
  mqtt::Decoder d;
  d.feed(s.output());
  s.output().clear();
  std::vector<mqtt::Packet> out;
  for (;;) {
    auto r = d.next();
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    if (!r || !r->has_value()) break;
    out.push_back(std::move(**r));
  }
  return out;
}

std::shared_ptr<const std::string> P(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

TEST(ClientSession, ConnectCarriesIdentityKeepAliveAndCleanSession) {
  Recorder ev;
  ClientSession s({"CoreThing", 30, false, 1024}, ev);
  s.begin();
  auto pk = drainOutput(s);
  ASSERT_EQ(pk.size(), 1u);
  const auto& c = std::get<mqtt::Connect>(pk[0]);
  EXPECT_EQ(c.client_id, "CoreThing");
  EXPECT_EQ(c.keep_alive, 30);
  EXPECT_FALSE(c.clean_session);
  EXPECT_EQ(s.state(), ClientSession::State::kConnecting);
  ASSERT_TRUE(s.receive(mqtt::encode(mqtt::Connack{true, 0})));
  EXPECT_TRUE(s.connected());
  EXPECT_EQ(ev.connected, 1);
  EXPECT_TRUE(ev.session_present);
}

TEST(ClientSession, RefusedConnackNamesTheCode) {
  Recorder ev;
  ClientSession s({"CoreThing", 30, true, 1024}, ev);
  s.begin();
  Status st = s.receive(mqtt::encode(mqtt::Connack{false, mqtt::kConnackNotAuthorized}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kUnauthorized);
  EXPECT_NE(st.message().find("CONNACK 5 (not authorized)"), std::string::npos);
  EXPECT_FALSE(s.connected());
}

TEST(ClientSession, PacketBeforeConnackIsAProtocolError) {
  Recorder ev;
  ClientSession s({"c", 30, true, 1024}, ev);
  s.begin();
  Status st = s.receive(mqtt::encode(mqtt::Puback{1}));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("expected CONNACK"), std::string::npos);
}

TEST(ClientSession, GarbageFromServerIsAnError) {
  Recorder ev;
  ClientSession s({"c", 30, true, 1024}, ev);
  s.begin();
  ASSERT_TRUE(s.receive(mqtt::encode(mqtt::Connack{false, 0})));
  EXPECT_FALSE(s.receive(std::string("\xf0\x00", 2)));  // reserved packet type 15
}

TEST(ClientSession, InboundQos1IsAckedAndDelivered) {
  Recorder ev;
  ClientSession s({"c", 30, true, 1024}, ev);
  s.begin();
  ASSERT_TRUE(s.receive(mqtt::encode(mqtt::Connack{false, 0})));
  drainOutput(s);
  mqtt::Publish p{"test/in", P("hello"), 1, false, false, 77};
  ASSERT_TRUE(s.receive(mqtt::encode(p)));
  ASSERT_EQ(ev.messages.size(), 1u);
  EXPECT_EQ(ev.messages[0].topic, "test/in");
  EXPECT_EQ(ev.messages[0].payloadView(), "hello");
  auto out = drainOutput(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Puback>(out[0]).packet_id, 77);
}

TEST(ClientSession, SubscribeAndSuback) {
  Recorder ev;
  ClientSession s({"c", 30, true, 1024}, ev);
  s.begin();
  ASSERT_TRUE(s.receive(mqtt::encode(mqtt::Connack{false, 0})));
  drainOutput(s);
  uint16_t id = s.subscribe({{"a/#", 1}, {"b", 0}});
  auto out = drainOutput(s);
  ASSERT_EQ(out.size(), 1u);
  const auto& sub = std::get<mqtt::Subscribe>(out[0]);
  EXPECT_EQ(sub.packet_id, id);
  ASSERT_EQ(sub.topics.size(), 2u);
  EXPECT_EQ(sub.topics[0].qos, 1);
  ASSERT_TRUE(s.receive(mqtt::encode(mqtt::Suback{id, {1, 0x80}})));
  ASSERT_EQ(ev.subacks.size(), 1u);
  EXPECT_EQ(ev.subacks[0][1], 0x80);
}

class DrainTest : public ::testing::Test {
 protected:
  DrainTest() : spool_(io_, memOpts(), Log()), session_({"c", 30, true, 1 << 20}, ev_) {
    EXPECT_TRUE(spool_.open());
  }
  static spool::SpoolOptions memOpts() {
    spool::SpoolOptions o;
    o.storage = spool::StorageType::kMemory;
    return o;
  }
  void connect(Drain& d) {
    session_.begin();
    drainOutput(session_);
    ASSERT_TRUE(session_.receive(mqtt::encode(mqtt::Connack{false, 0})));
    d.onConnected(session_);
  }
  std::vector<mqtt::Publish> publishes() {
    std::vector<mqtt::Publish> out;
    for (auto& p : drainOutput(session_)) out.push_back(std::get<mqtt::Publish>(std::move(p)));
    return out;
  }
  boost::asio::io_context io_;
  spool::Spool spool_;
  Recorder ev_;
  ClientSession session_;
};

TEST_F(DrainTest, PipelinesUpToTheWindowNotStopAndWait) {
  for (int i = 0; i < 250; ++i) spool_.append("t/" + std::to_string(i % 2), P(std::to_string(i)));
  Drain d(spool_, 100);
  ev_.drain = &d;
  connect(d);
  auto sent = publishes();
  ASSERT_EQ(sent.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(sent[i].qos, 1);
    EXPECT_FALSE(sent[i].dup);
    EXPECT_EQ(sent[i].payloadView(), std::to_string(i));
  }
  EXPECT_EQ(d.stats().inflight, 100u);
  EXPECT_EQ(d.pump(session_), 0u);  // window full
  // Two PUBACKs free two slots; those messages leave the spool.
  ASSERT_TRUE(session_.receive(mqtt::encode(mqtt::Puback{sent[0].packet_id})));
  ASSERT_TRUE(session_.receive(mqtt::encode(mqtt::Puback{sent[1].packet_id})));
  EXPECT_EQ(spool_.stats().queued, 248u);
  EXPECT_EQ(d.pump(session_), 2u);
  auto more = publishes();
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].payloadView(), "100");
  EXPECT_EQ(more[1].payloadView(), "101");
}

TEST_F(DrainTest, ReconnectResendsUnackedInOrderWithDup) {
  for (int i = 0; i < 10; ++i) spool_.append("t", P(std::to_string(i)));
  Drain d(spool_, 4);
  ev_.drain = &d;
  connect(d);
  auto sent = publishes();
  ASSERT_EQ(sent.size(), 4u);
  ASSERT_TRUE(session_.receive(mqtt::encode(mqtt::Puback{sent[0].packet_id})));  // "0" done
  // Connection lost: "1".."3" were in flight.
  session_.reset();
  d.onDisconnected();
  EXPECT_EQ(spool_.stats().queued, 9u);
  connect(d);
  auto again = publishes();
  ASSERT_EQ(again.size(), 4u);
  EXPECT_EQ(again[0].payloadView(), "1");
  EXPECT_TRUE(again[0].dup);
  EXPECT_EQ(again[2].payloadView(), "3");
  EXPECT_TRUE(again[2].dup);
  EXPECT_EQ(again[3].payloadView(), "4");
  EXPECT_FALSE(again[3].dup);
  EXPECT_EQ(d.stats().resent, 3u);
  // A stale PUBACK id from the old connection is not ours any more.
  EXPECT_FALSE(d.onPuback(sent[1].packet_id == again[0].packet_id ? 60000 : sent[1].packet_id));
}

TEST_F(DrainTest, NothingSentWhileDisconnected) {
  spool_.append("t", P("x"));
  Drain d(spool_, 100);
  EXPECT_EQ(d.pump(session_), 0u);
  EXPECT_TRUE(session_.output().empty());
}

}  // namespace
}  // namespace evg::cloud
