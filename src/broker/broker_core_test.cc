#include "broker/broker_core.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "broker/broker_store.h"
#include "broker/fake_transport.h"

namespace evg::broker {
namespace {

using namespace std::chrono_literals;

TEST(SubscriptionListTest, SortedSetReplaceAndErase) {
  SubscriptionList l;
  EXPECT_TRUE(l.empty());
  l.set("b/#", 1);
  l.set("a/+", 0);
  l.set("c", 2);
  l.set("b/#", 0);  // replaces
  ASSERT_EQ(l.size(), 3u);
  std::vector<std::string> order;
  for (const auto& [f, q] : l) order.push_back(f + ":" + std::to_string(q));
  EXPECT_EQ(order, (std::vector<std::string>{"a/+:0", "b/#:0", "c:2"}));
  ASSERT_NE(l.find("c"), nullptr);
  EXPECT_EQ(l.find("c")->second, 2);
  EXPECT_EQ(l.find("d"), nullptr);
  EXPECT_FALSE(l.contains("b"));
  EXPECT_TRUE(l.erase("b/#"));
  EXPECT_FALSE(l.erase("b/#"));
  EXPECT_EQ(l.size(), 2u);
  EXPECT_TRUE(l.erase("a/+"));
  EXPECT_TRUE(l.erase("c"));
  EXPECT_TRUE(l.empty());
}
using mqtt::Packet;

std::shared_ptr<const std::string> str(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override { make(BrokerOptions{}); }
  void make(BrokerOptions o) {
    core_.reset();
    hooks_.core = nullptr;
    core_ = std::make_unique<BrokerCore>(o, hooks_, t_, clock_, Log());
    hooks_.core = core_.get();
  }

  // Accepts connection `id` and sends CONNECT; returns the packets the broker answered.
  std::vector<Packet> connect(ConnId id, mqtt::Connect c) {
    EXPECT_TRUE(core_->onAccept(id, false, "", "127.0.0.1:" + std::to_string(id)));
    send(id, c);
    return t_.take(id);
  }
  void connectOk(ConnId id, std::string client_id, bool clean = true, uint16_t keep_alive = 0) {
    mqtt::Connect c;
    c.client_id = std::move(client_id);
    c.clean_session = clean;
    c.keep_alive = keep_alive;
    auto out = connect(id, c);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(std::get<mqtt::Connack>(out[0]).return_code, 0);
  }
  void send(ConnId id, const Packet& p) { core_->onBytes(id, mqtt::encode(p)); }
  // A TLS client whose certificate names `identity`, CONNECTed as `client_id`, subscribed to "a".
  void connectTlsOnA(ConnId id, const std::string& identity, std::string client_id) {
    ASSERT_TRUE(core_->onAccept(id, true, identity, "p"));
    mqtt::Connect c;
    c.client_id = std::move(client_id);
    send(id, c);
    ASSERT_EQ(t_.take(id).size(), 1u);
    subscribe(id, "a", 0);
  }
  void subscribe(ConnId id, std::string filter, uint8_t qos, uint8_t expect_code = 255) {
    send(id, mqtt::Subscribe{1, {{std::move(filter), qos}}});
    auto out = t_.take(id);
    ASSERT_GE(out.size(), 1u);
    auto& ack = std::get<mqtt::Suback>(out[0]);
    EXPECT_EQ(ack.return_codes.at(0), expect_code == 255 ? qos : expect_code);
    // Retained replay follows the SUBACK: keep it for publishes().
    for (size_t i = 1; i < out.size(); ++i) {
      if (auto* p = std::get_if<mqtt::Publish>(&out[i])) stash_[id].push_back(*p);
    }
  }
  void pub(ConnId id, std::string topic, std::string payload, uint8_t qos, uint16_t pid = 0,
           bool retain = false) {
    mqtt::Publish p;
    p.topic = std::move(topic);
    p.payload = str(std::move(payload));
    p.qos = qos;
    p.packet_id = pid;
    p.retain = retain;
    send(id, p);
  }
  std::vector<mqtt::Publish> publishes(ConnId id) {
    std::vector<mqtt::Publish> v = std::move(stash_[id]);
    stash_[id].clear();
    for (auto& p : t_.take(id)) {
      if (auto* pp = std::get_if<mqtt::Publish>(&p)) v.push_back(*pp);
    }
    return v;
  }
  uint8_t connackCode(const std::vector<Packet>& out) {
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? 255 : std::get<mqtt::Connack>(out[0]).return_code;
  }

  FakeClock clock_;
  FakeTransport t_;
  OpenHooks hooks_;
  std::unique_ptr<BrokerCore> core_;
  std::map<ConnId, std::vector<mqtt::Publish>> stash_;
};

TEST_F(CoreTest, ConnackReturnCodes) {
  mqtt::Connect c;
  c.client_id = "dev";
  mqtt::Connect v3 = c;
  v3.protocol_name = "MQIsdp";
  v3.protocol_level = 3;
  EXPECT_EQ(connackCode(connect(1, v3)), mqtt::kConnackBadProtocol);
  EXPECT_TRUE(t_.closed.count(1));

  mqtt::Connect empty;
  empty.clean_session = false;
  EXPECT_EQ(connackCode(connect(2, empty)), mqtt::kConnackIdentifierRejected);
  EXPECT_TRUE(t_.closed.count(2));

  hooks_.connect_code = mqtt::kConnackBadUserPass;
  mqtt::Connect up = c;
  up.username = "u";
  up.password = "secret";
  EXPECT_EQ(connackCode(connect(3, up)), mqtt::kConnackBadUserPass);
  EXPECT_EQ(hooks_.last_password, "secret");
  hooks_.connect_code = mqtt::kConnackNotAuthorized;
  EXPECT_EQ(connackCode(connect(4, c)), mqtt::kConnackNotAuthorized);
  hooks_.connect_code = 0;

  // Empty id with cleanSession=1 gets a generated id.
  EXPECT_EQ(connackCode(connect(5, mqtt::Connect{})), 0);
  EXPECT_EQ(hooks_.connected.back().rfind("evg-auto-", 0), 0u);
  EXPECT_EQ(core_->stats().connected_clients, 1u);
  EXPECT_EQ(core_->stats().connections_refused, 4u);
}

TEST_F(CoreTest, ConnectionLimits) {
  BrokerOptions o;
  o.max_connections = 1;
  o.max_pending_connects = 1;
  make(o);
  connectOk(1, "a");
  mqtt::Connect c;
  c.client_id = "b";
  EXPECT_EQ(connackCode(connect(2, c)), mqtt::kConnackServerUnavailable);
  // Socket limit: 1 connected + 1 pending.
  EXPECT_TRUE(core_->onAccept(3, false, "", "p"));
  EXPECT_FALSE(core_->onAccept(4, false, "", "p"));
}

TEST_F(CoreTest, FirstPacketMustBeConnect) {
  ASSERT_TRUE(core_->onAccept(1, false, "", "p"));
  send(1, mqtt::Pingreq{});
  EXPECT_TRUE(t_.closed.count(1));
  EXPECT_TRUE(t_.take(1).empty());
  EXPECT_EQ(core_->stats().protocol_errors, 1u);
  EXPECT_EQ(core_->connectionCount(), 0u);
}

TEST_F(CoreTest, ConnectTimeout) {
  ASSERT_TRUE(core_->onAccept(1, false, "", "p"));
  clock_.advance(9s);
  core_->tick();
  EXPECT_FALSE(t_.closed.count(1));
  clock_.advance(1s);
  core_->tick();
  EXPECT_TRUE(t_.closed.count(1));
}

TEST_F(CoreTest, SubscribePublishQos0AndPing) {
  connectOk(1, "sub");
  connectOk(2, "pub");
  subscribe(1, "t/+", 0);
  pub(2, "t/1", "hello", 0);
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "t/1");
  EXPECT_EQ(*got[0].payload, "hello");
  EXPECT_EQ(got[0].qos, 0);
  EXPECT_FALSE(got[0].retain);
  send(1, mqtt::Pingreq{});
  auto out = t_.take(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<mqtt::Pingresp>(out[0]));
  send(1, mqtt::Unsubscribe{9, {"t/+"}});
  out = t_.take(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Unsuback>(out[0]).packet_id, 9);
  pub(2, "t/1", "again", 0);
  EXPECT_TRUE(publishes(1).empty());
  EXPECT_EQ(core_->stats().messages_in, 2u);
  EXPECT_EQ(core_->stats().messages_out, 1u);
}

TEST_F(CoreTest, SubackFailureForDeniedAndOverLimit) {
  BrokerOptions o;
  o.max_subscriptions_per_client = 2;
  make(o);
  connectOk(1, "c");
  send(1, mqtt::Subscribe{3, {{"a", 1}, {"deny/x", 1}, {"b", 2}, {"c", 0}, {"a", 2}}});
  auto out = t_.take(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Suback>(out[0]),
            (mqtt::Suback{3, {1, mqtt::kSubackFailure, 2, mqtt::kSubackFailure, 2}}));
}

TEST_F(CoreTest, Qos1BothDirectionsAndWindow) {
  BrokerOptions o;
  o.max_inflight_per_client = 2;
  make(o);
  connectOk(1, "sub");
  connectOk(2, "pub");
  subscribe(1, "q", 1);
  for (uint16_t i = 1; i <= 3; ++i) {
    pub(2, "q", "m" + std::to_string(i), 1, i);
    auto acks = t_.take(2);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(std::get<mqtt::Puback>(acks[0]).packet_id, i);
  }
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 2u);  // window of 2
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_NE(got[0].packet_id, got[1].packet_id);
  send(1, mqtt::Puback{got[0].packet_id});
  auto third = publishes(1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(*third[0].payload, "m3");
  EXPECT_FALSE(third[0].dup);
}

TEST_F(CoreTest, PacketIdsSkipIdsStillInFlightAfterWrap) {
  BrokerOptions o;
  o.max_inflight_per_client = 3;
  make(o);
  connectOk(1, "sub");
  subscribe(1, "w", 1);
  core_->publish(Message{"w", str("stuck"), 1, false}, "s");  // gets id 1, never acked
  auto first = publishes(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].packet_id, 1);
  for (int i = 0; i < 70000; ++i) {  // wraps the 16-bit id space
    core_->publish(Message{"w", str("m"), 1, false}, "s");
    auto got = publishes(1);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_NE(got[0].packet_id, 0);
    ASSERT_NE(got[0].packet_id, 1) << "reused an id still in flight, at message " << i;
    send(1, mqtt::Puback{got[0].packet_id});
  }
}

TEST_F(CoreTest, Qos2InboundExactlyOnce) {
  connectOk(1, "sub");
  connectOk(2, "pub");
  subscribe(1, "q2", 0);
  pub(2, "q2", "once", 2, 7);
  auto out = t_.take(2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Pubrec>(out[0]).packet_id, 7);
  // Resend with the same id before PUBREL: acknowledged again, not delivered again.
  mqtt::Publish dup;
  dup.topic = "q2";
  dup.payload = str("once");
  dup.qos = 2;
  dup.dup = true;
  dup.packet_id = 7;
  send(2, dup);
  out = t_.take(2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<mqtt::Pubrec>(out[0]));
  send(2, mqtt::Pubrel{7});
  out = t_.take(2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Pubcomp>(out[0]).packet_id, 7);
  EXPECT_EQ(publishes(1).size(), 1u);
  EXPECT_EQ(hooks_.published.size(), 1u);
  // After release the id can be reused for a new message.
  pub(2, "q2", "second", 2, 7);
  EXPECT_EQ(publishes(1).size(), 1u);
}

TEST_F(CoreTest, Qos2Outbound) {
  BrokerOptions o;
  o.max_inflight_per_client = 1;
  make(o);
  connectOk(1, "sub");
  subscribe(1, "x", 2);
  core_->publish(Message{"x", str("a"), 2, false}, "src");
  core_->publish(Message{"x", str("b"), 2, false}, "src");
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 2);
  send(1, mqtt::Pubrec{got[0].packet_id});
  auto out = t_.take(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Pubrel>(out[0]).packet_id, got[0].packet_id);
  send(1, mqtt::Pubcomp{got[0].packet_id});
  got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].payload, "b");
}

TEST_F(CoreTest, OverlappingSubscriptionsDeliverOnceAtMaxQos) {
  connectOk(1, "sub");
  subscribe(1, "a/#", 0);
  subscribe(1, "a/b", 1);
  subscribe(1, "+/b", 2);
  connectOk(2, "other");
  subscribe(2, "#", 0);
  core_->publish(Message{"a/b", str("p"), 2, false}, "src");
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 2);
  auto got2 = publishes(2);
  ASSERT_EQ(got2.size(), 1u);
  EXPECT_EQ(got2[0].qos, 0);
  core_->publish(Message{"a/b", str("p"), 1, false}, "src");
  got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);  // capped by the message QoS
  core_->publish(Message{"a/c", str("p"), 2, false}, "src");
  got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 0);
}

TEST_F(CoreTest, PersistentSessionRedeliversWithDup) {
  connectOk(1, "p", /*clean=*/false);
  subscribe(1, "s", 1);
  core_->publish(Message{"s", str("first"), 1, false}, "src");
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  const uint16_t pid = got[0].packet_id;
  core_->onClosed(1, "network");  // no PUBACK
  core_->publish(Message{"s", str("offline"), 1, false}, "src");
  core_->publish(Message{"s", str("qos0-dropped"), 0, false}, "src");
  EXPECT_EQ(core_->stats().dropped_offline_qos0, 1u);
  mqtt::Connect c;
  c.client_id = "p";
  c.clean_session = false;
  auto out = connect(2, c);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(std::get<mqtt::Connack>(out[0]).session_present);
  auto& re = std::get<mqtt::Publish>(out[1]);
  EXPECT_TRUE(re.dup);
  EXPECT_EQ(re.packet_id, pid);
  EXPECT_EQ(*re.payload, "first");
  auto& q = std::get<mqtt::Publish>(out[2]);
  EXPECT_FALSE(q.dup);
  EXPECT_EQ(*q.payload, "offline");
  // Subscriptions survived: live delivery works without resubscribing.
  send(2, mqtt::Puback{re.packet_id});
  send(2, mqtt::Puback{q.packet_id});
  core_->publish(Message{"s", str("live"), 1, false}, "src");
  EXPECT_EQ(publishes(2).size(), 1u);
  // A clean reconnect discards the session.
  core_->onClosed(2, "network");
  mqtt::Connect clean;
  clean.client_id = "p";
  out = connect(3, clean);
  EXPECT_FALSE(std::get<mqtt::Connack>(out.at(0)).session_present);
  core_->publish(Message{"s", str("x"), 1, false}, "src");
  EXPECT_TRUE(publishes(3).empty());
}

TEST_F(CoreTest, Qos2PubrelResentAfterReconnect) {
  connectOk(1, "p", false);
  subscribe(1, "s", 2);
  core_->publish(Message{"s", str("x"), 2, false}, "src");
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  send(1, mqtt::Pubrec{got[0].packet_id});
  t_.take(1);
  core_->onClosed(1, "network");
  mqtt::Connect c;
  c.client_id = "p";
  c.clean_session = false;
  auto out = connect(2, c);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<mqtt::Pubrel>(out[1]).packet_id, got[0].packet_id);
}

TEST_F(CoreTest, OfflineQueueIsBounded) {
  BrokerOptions o;
  o.max_queued_per_client = 3;
  make(o);
  connectOk(1, "p", false);
  subscribe(1, "s", 1);
  core_->onClosed(1, "gone");
  for (int i = 0; i < 5; ++i) core_->publish(Message{"s", str(std::to_string(i)), 1, false}, "x");
  EXPECT_EQ(core_->stats().dropped_queue_full, 2u);
  mqtt::Connect c;
  c.client_id = "p";
  c.clean_session = false;
  auto out = connect(2, c);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(*std::get<mqtt::Publish>(out[1]).payload, "0");
  EXPECT_EQ(*std::get<mqtt::Publish>(out[3]).payload, "2");
}

TEST_F(CoreTest, WillOnKeepaliveTimeoutNotOnDisconnect) {
  connectOk(1, "watcher");
  subscribe(1, "will/#", 0);
  mqtt::Connect c;
  c.client_id = "dev";
  c.keep_alive = 10;
  c.will = mqtt::Will{"will/dev", "gone", 0, false};
  ASSERT_EQ(connackCode(connect(2, c)), 0);
  clock_.advance(14s);
  send(2, mqtt::Pingreq{});  // activity resets the timer
  clock_.advance(15s);
  core_->tick();
  EXPECT_FALSE(t_.closed.count(2));
  clock_.advance(1s);  // 16 s > 1.5 x 10 s
  core_->tick();
  EXPECT_TRUE(t_.closed.count(2));
  EXPECT_EQ(core_->stats().keepalive_timeouts, 1u);
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "will/dev");
  EXPECT_EQ(*got[0].payload, "gone");

  // A clean DISCONNECT discards the will.
  c.client_id = "dev2";
  ASSERT_EQ(connackCode(connect(3, c)), 0);
  send(3, mqtt::Disconnect{});
  EXPECT_TRUE(t_.closed.count(3));
  EXPECT_TRUE(publishes(1).empty());
  // Abnormal close (socket error) publishes it.
  ASSERT_EQ(connackCode(connect(4, c)), 0);
  core_->onClosed(4, "reset by peer");
  EXPECT_EQ(publishes(1).size(), 1u);
}

TEST_F(CoreTest, ClientIdTakeover) {
  connectOk(1, "watcher");
  subscribe(1, "will/#", 0);
  mqtt::Connect c;
  c.client_id = "dup";
  c.will = mqtt::Will{"will/dup", "taken", 0, false};
  ASSERT_EQ(connackCode(connect(2, c)), 0);
  c.will.reset();
  ASSERT_EQ(connackCode(connect(3, c)), 0);
  EXPECT_TRUE(t_.closed.count(2));
  EXPECT_FALSE(t_.closed.count(3));
  EXPECT_EQ(publishes(1).size(), 1u);  // the old connection's will
  EXPECT_EQ(core_->stats().connected_clients, 2u);
  send(3, mqtt::Pingreq{});
  EXPECT_EQ(t_.take(3).size(), 1u);
}

TEST_F(CoreTest, SquattedClientIdIsTakenOverAndTheSquattersSessionDiscarded) {
  // Issue 11 item 5: identity "Squatter" (TLS) uses the client id "Owner" with cleanSession=0 and
  // leaves; the owner then connects: accepted (not CONNACK 2), with a fresh session.
  ASSERT_TRUE(core_->onAccept(1, true, "Squatter", "p1"));
  mqtt::Connect c;
  c.client_id = "Owner";
  c.clean_session = false;
  send(1, c);
  ASSERT_EQ(connackCode(t_.take(1)), 0);
  subscribe(1, "spy/#", 1);
  core_->onClosed(1, "gone");
  core_->publish(Message{"spy/a", str("for the squatter"), 1, false}, "x");
  ASSERT_TRUE(core_->onAccept(2, true, "Owner", "p2"));
  send(2, c);
  auto out = t_.take(2);
  ASSERT_EQ(out.size(), 1u);  // no queued message of the squatter's session
  EXPECT_EQ(std::get<mqtt::Connack>(out[0]).return_code, 0);
  EXPECT_FALSE(std::get<mqtt::Connack>(out[0]).session_present);
  // While online, the newest connection wins: the squatter again takes over, the owner goes.
  ASSERT_TRUE(core_->onAccept(3, true, "Squatter", "p3"));
  send(3, c);
  EXPECT_EQ(connackCode(t_.take(3)), 0);
  EXPECT_TRUE(t_.closed.count(2));
}

TEST_F(CoreTest, RetainedStoreReplaceDelete) {
  connectOk(1, "pub");
  pub(1, "r/a", "v1", 1, 1, /*retain=*/true);
  pub(1, "r/a", "v2", 0, 0, true);
  pub(1, "r/b", "b", 0, 0, true);
  EXPECT_EQ(core_->stats().retained, 2u);
  connectOk(2, "sub");
  subscribe(2, "r/a", 1);  // qos min(1, 0) = 0
  auto got = publishes(2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].payload, "v2");
  EXPECT_TRUE(got[0].retain);
  // Live messages to established subscriptions carry retain = 0.
  pub(1, "r/a", "v3", 0, 0, true);
  got = publishes(2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].retain);
  // Empty payload deletes.
  pub(1, "r/a", "", 0, 0, true);
  EXPECT_EQ(core_->stats().retained, 1u);
  connectOk(3, "sub2");
  subscribe(3, "r/#", 0);
  got = publishes(3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "r/b");
  // Policy may hide retained messages.
  hooks_.allow_retained = false;
  connectOk(4, "sub3");
  subscribe(4, "r/#", 0);
  EXPECT_TRUE(publishes(4).empty());
}

TEST_F(CoreTest, RetainedStoreIsBounded) {
  BrokerOptions o;
  o.max_retained = 2;
  make(o);
  for (int i = 0; i < 4; ++i)
    core_->publish(Message{"k/" + std::to_string(i), str("v"), 0, true}, "s");
  EXPECT_EQ(core_->stats().retained, 2u);
  EXPECT_EQ(core_->stats().dropped_retained_full, 2u);
  core_->publish(Message{"k/0", str("replaced"), 0, true}, "s");  // replacing is still allowed
  EXPECT_EQ(core_->stats().dropped_retained_full, 2u);
}

TEST_F(CoreTest, OversizePayloadClosesConnection) {
  BrokerOptions o;
  o.max_payload_bytes = 10;
  make(o);
  connectOk(1, "sub");
  subscribe(1, "#", 0);
  connectOk(2, "big");
  pub(2, "t", std::string(11, 'x'), 0);
  EXPECT_TRUE(t_.closed.count(2));
  EXPECT_EQ(core_->stats().dropped_oversize, 1u);
  EXPECT_TRUE(publishes(1).empty());
  // Far over the limit: refused from the fixed header alone.
  connectOk(3, "huge");
  std::string head;
  mqtt::encodePublishHeader(head, "t", 0, false, false, 0, 10'000'000);
  core_->onBytes(3, head);
  EXPECT_TRUE(t_.closed.count(3));
  EXPECT_EQ(core_->stats().dropped_oversize, 2u);
  pub(1, "t", std::string(10, 'x'), 0);  // exactly at the limit is fine
  EXPECT_EQ(publishes(1).size(), 1u);
}

TEST_F(CoreTest, GarbageClosesOnlyThatConnection) {
  connectOk(1, "good");
  subscribe(1, "t", 0);
  connectOk(2, "bad");
  core_->onBytes(2, std::string("\x30\xff\xff\xff\xff\x7f garbage", 14));
  EXPECT_TRUE(t_.closed.count(2));
  ASSERT_TRUE(core_->onAccept(3, false, "", "p"));
  core_->onBytes(3, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(t_.closed.count(3));
  EXPECT_EQ(core_->stats().protocol_errors, 2u);
  EXPECT_FALSE(t_.closed.count(1));
  core_->publish(Message{"t", str("still here"), 0, false}, "s");
  EXPECT_EQ(publishes(1).size(), 1u);
  // Bytes for a closed id are ignored.
  core_->onBytes(2, "more");
  core_->onClosed(2, "late");
}

TEST_F(CoreTest, DeliverToIdentityUsesOwnSubscriptions) {
  connectOk(1, "thing-a");
  connectOk(2, "thing-b");
  subscribe(1, "cmd/#", 1);
  subscribe(1, "cmd/x", 0);
  subscribe(2, "cmd/#", 1);
  core_->deliverToIdentity("thing-a", Message{"cmd/x", str("go"), 1, false});
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_TRUE(publishes(2).empty());
  core_->deliverToIdentity("thing-a", Message{"other", str("go"), 1, false});
  EXPECT_TRUE(publishes(1).empty());
  core_->deliverToIdentity("nobody", Message{"cmd/x", str("go"), 1, false});
}

TEST_F(CoreTest, DisconnectIfAndCloseAll) {
  connectOk(1, "keep");
  connectOk(2, "drop");
  core_->disconnectIf([](const ClientInfo& i) { return i.identity == "drop"; }, "deployment");
  EXPECT_TRUE(t_.closed.count(2));
  EXPECT_FALSE(t_.closed.count(1));
  core_->closeAll("stop");
  EXPECT_TRUE(t_.closed.count(1));
  EXPECT_EQ(core_->connectionCount(), 0u);
  EXPECT_FALSE(core_->onAccept(5, false, "", "p"));
}

TEST_F(CoreTest, SlowConsumerDropsQos0AndSharesEncodedHeader) {
  connectOk(1, "fast");
  connectOk(2, "slow");
  subscribe(1, "t", 0);
  subscribe(2, "t", 0);
  t_.pending[2] = BrokerOptions{}.max_write_buffer_bytes + 1;
  core_->publish(Message{"t", str("x"), 0, false}, "s");
  EXPECT_EQ(publishes(1).size(), 1u);
  EXPECT_TRUE(publishes(2).empty());
  EXPECT_EQ(core_->stats().dropped_slow_consumer, 1u);
}

TEST_F(CoreTest, TlsIdentityIsKept) {
  connectTlsOnA(1, "ThingOne", "client-xyz");
  core_->deliverToIdentity("ThingOne", Message{"a", str("hi"), 0, false});
  EXPECT_EQ(publishes(1).size(), 1u);
}

// One thing name, several client ids (a device's TLS certificate used by three clients): each
// session is reached through the identity, and closing the first, a middle or the last one
// leaves the others reachable (the identity table's chain and its re-keying).
TEST_F(CoreTest, SeveralSessionsOfOneIdentityStayReachableAsTheyGo) {
  for (ConnId id : {1, 2, 3, 4}) connectTlsOnA(id, "ThingOne", "client-" + std::to_string(id));
  auto reached = [&] {
    core_->deliverToIdentity("ThingOne", Message{"a", str("hi"), 0, false});
    std::vector<ConnId> ids;
    for (ConnId id : {1, 2, 3, 4}) {
      if (publishes(id).size() == 1) ids.push_back(id);
    }
    return ids;
  };
  EXPECT_EQ(reached(), (std::vector<ConnId>{1, 2, 3, 4}));
  core_->onClosed(1, "gone");  // the first linked
  EXPECT_EQ(reached(), (std::vector<ConnId>{2, 3, 4}));
  core_->onClosed(3, "gone");  // a middle one
  EXPECT_EQ(reached(), (std::vector<ConnId>{2, 4}));
  core_->onClosed(4, "gone");
  core_->onClosed(2, "gone");
  EXPECT_TRUE(reached().empty());
  connectTlsOnA(5, "ThingOne", "client-5");  // the identity comes back
  core_->deliverToIdentity("ThingOne", Message{"a", str("hi"), 0, false});
  EXPECT_EQ(publishes(5).size(), 1u);
}

// ---- Byte bounds (issue 11 item 6) ----

TEST_F(CoreTest, RetainedStoreIsBoundedInBytes) {
  BrokerOptions o;
  o.max_retained_bytes = 1000;
  make(o);
  for (int i = 0; i < 5; ++i) {
    core_->publish(Message{"k/" + std::to_string(i), str(std::string(300, 'v')), 0, true}, "s");
  }
  EXPECT_EQ(core_->stats().retained, 3u);  // 3 x (3 + 300) bytes fit in 1000
  EXPECT_EQ(core_->stats().retained_bytes, 909u);
  EXPECT_EQ(core_->stats().dropped_retained_bytes, 2u);
  // Replacing with a smaller value fits; deleting frees the bytes.
  core_->publish(Message{"k/0", str("small"), 0, true}, "s");
  EXPECT_EQ(core_->stats().retained_bytes, 606u + 8u);
  core_->publish(Message{"k/1", str(""), 0, true}, "s");
  EXPECT_EQ(core_->stats().retained_bytes, 303u + 8u);
  // A replacement over the budget is refused and the stale value removed.
  core_->publish(Message{"k/2", str(std::string(2000, 'x')), 0, true}, "s");
  EXPECT_EQ(core_->stats().retained, 1u);
  EXPECT_EQ(core_->stats().dropped_retained_bytes, 3u);
}

TEST_F(CoreTest, SessionQueueIsBoundedInBytes) {
  BrokerOptions o;
  o.max_queued_bytes_per_client = 1000;
  make(o);
  connectOk(1, "sub", /*clean=*/false);
  subscribe(1, "q/#", 1);
  core_->onClosed(1, "gone");
  for (int i = 0; i < 5; ++i) {
    core_->publish(Message{"q/" + std::to_string(i), str(std::string(300, 'p')), 1, false}, "s");
  }
  EXPECT_EQ(core_->stats().dropped_queue_bytes, 2u);
  EXPECT_EQ(core_->stats().queued_bytes, 909u);
  mqtt::Connect c;
  c.client_id = "sub";
  c.clean_session = false;
  auto out = connect(2, c);
  ASSERT_EQ(out.size(), 4u);  // CONNACK + the 3 that fit
  for (size_t i = 1; i < out.size(); ++i) {
    send(2, mqtt::Puback{std::get<mqtt::Publish>(out[i]).packet_id});
  }
  EXPECT_EQ(core_->stats().queued_bytes, 0u);
}

// ---- Persistence (issue 11 item 9): ops -> BrokerStore -> restore into a new core ----

class StoreSink : public PersistSink {
 public:
  void persist(PersistOp&& op) override { ops.push_back(std::move(op)); }
  std::vector<PersistOp> ops;
};

class PersistTest : public CoreTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("evg-broker-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    CoreTest::SetUp();
    core_->setPersistSink(&sink_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Commits what the core reported, then starts a new core from the store (a restart).
  BrokerCore::RestoreStats restart(BrokerOptions o = {}) {
    auto store = BrokerStore::open((dir_ / "broker.db").string());
    EXPECT_TRUE(store.isOk()) << store.status().message();
    EXPECT_TRUE(store.value()->commit(sink_.ops).isOk());
    sink_.ops.clear();
    auto state = store.value()->load();
    EXPECT_TRUE(state.isOk());
    t_ = FakeTransport();
    make(o);
    core_->setPersistSink(&sink_);
    return core_->restore(std::move(state).value());
  }
  std::filesystem::path dir_;
  StoreSink sink_;
};

TEST_F(PersistTest, PersistentSessionQueueAndRetainedSurviveARestart) {
  connectOk(1, "dev", /*clean=*/false);
  subscribe(1, "cmd/#", 1);
  core_->onClosed(1, "offline");
  connectOk(2, "pub");
  for (int i = 0; i < 3; ++i) pub(2, "cmd/" + std::to_string(i), "m" + std::to_string(i), 1, i + 1);
  pub(2, "state/x", "retained", 1, 9, /*retain=*/true);
  auto rs = restart();
  EXPECT_EQ(rs.sessions, 1u);
  EXPECT_EQ(rs.messages, 3u);
  EXPECT_EQ(rs.retained, 1u);
  mqtt::Connect c;
  c.client_id = "dev";
  c.clean_session = false;
  auto out = connect(3, c);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(std::get<mqtt::Connack>(out[0]).session_present);
  for (int i = 0; i < 3; ++i) {
    auto& p = std::get<mqtt::Publish>(out[i + 1]);
    EXPECT_EQ(p.topic, "cmd/" + std::to_string(i));
    EXPECT_EQ(*p.payload, "m" + std::to_string(i));
    EXPECT_EQ(p.qos, 1);
  }
  // The restored subscription still routes live messages.
  core_->publish(Message{"cmd/live", str("live"), 1, false}, "x");
  auto live = publishes(3);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].topic, "cmd/live");
  connectOk(4, "newcomer");
  subscribe(4, "state/#", 1);
  auto ret = publishes(4);
  ASSERT_EQ(ret.size(), 1u);
  EXPECT_EQ(*ret[0].payload, "retained");
  EXPECT_TRUE(ret[0].retain);
}

TEST_F(PersistTest, AckedMessagesAndCleanSessionsAreForgotten) {
  connectOk(1, "dev", false);
  subscribe(1, "t", 1);
  core_->publish(Message{"t", str("acked"), 1, false}, "x");
  auto got = publishes(1);
  ASSERT_EQ(got.size(), 1u);
  send(1, mqtt::Puback{got[0].packet_id});
  core_->publish(Message{"t", str("in flight"), 1, false}, "x");  // sent, never acked
  connectOk(2, "clean");  // clean sessions are not persisted
  subscribe(2, "t", 1);
  auto rs = restart();
  EXPECT_EQ(rs.sessions, 1u);
  EXPECT_EQ(rs.messages, 1u);
  mqtt::Connect c;
  c.client_id = "dev";
  c.clean_session = false;
  auto out = connect(3, c);
  ASSERT_EQ(out.size(), 2u);
  auto& p = std::get<mqtt::Publish>(out[1]);
  EXPECT_EQ(*p.payload, "in flight");
  EXPECT_TRUE(p.dup);  // it was in flight: resent with DUP and its packet id
  EXPECT_EQ(p.packet_id, got[0].packet_id + 1);
  // cleanSession=1 reconnect discards the persisted session (and its rows).
  mqtt::Connect clean;
  clean.client_id = "dev";
  auto out2 = connect(4, clean);
  ASSERT_GE(out2.size(), 1u);
  EXPECT_EQ(restart().sessions, 0u);
}

TEST_F(PersistTest, RestoreIsBoundedByTheByteLimits) {
  for (int i = 0; i < 4; ++i) {
    core_->publish(Message{"r/" + std::to_string(i), str(std::string(300, 'r')), 0, true}, "s");
  }
  BrokerOptions small;
  small.max_retained_bytes = 700;
  auto rs = restart(small);
  EXPECT_EQ(rs.retained, 2u);
  EXPECT_EQ(rs.dropped, 2u);
  EXPECT_EQ(core_->stats().retained_bytes, 606u);
  // The dropped ones are deleted from the store too.
  EXPECT_EQ(restart(small).retained, 2u);
}

}  // namespace
}  // namespace evg::broker
