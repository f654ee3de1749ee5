// Socket-level tests: the real Broker on 127.0.0.1 port 0 in a loop thread, raw MQTT clients
// (blocking Asio sockets with a receive timeout) in the test thread.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "broker/broker.h"
#include "mqtt/codec.h"

namespace evg::broker {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Routes everything back through the broker (open mode); thread-safe records for the test.
class NetHooks : public BrokerHooks {
 public:
  std::optional<std::string> identityForCertificate(std::string_view fp) override {
    std::lock_guard<std::mutex> l(mu);
    if (fp == known_fp) return std::string("ThingA");
    return std::nullopt;
  }
  uint8_t authorizeConnect(const ClientInfo& i) override {
    std::lock_guard<std::mutex> l(mu);
    identities.push_back(i.identity + (i.tls ? "/tls" : "/tcp"));
    return 0;
  }
  bool authorizeSubscribe(const ClientInfo&, std::string_view) override { return true; }
  void onPublish(const ClientInfo& i, Message&& m) override {
    if (broker != nullptr) broker->publish(std::move(m), i.identity);
  }
  bool mayReceiveRetained(const ClientInfo&, std::string_view, std::string_view) override {
    return true;
  }
  void onDisconnected(const ClientInfo&, std::string_view reason) override {
    std::lock_guard<std::mutex> l(mu);
    reasons.emplace_back(reason);
  }
  Broker* broker = nullptr;
  std::vector<std::string> reasons;
  std::mutex mu;
  std::string known_fp;
  std::vector<std::string> identities;
};

void setRecvTimeout(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// A blocking MQTT client over any sync stream.
template <typename Stream>
class Client {
 public:
  explicit Client(Stream s) : s_(std::move(s)) {}
  void send(const mqtt::Packet& p) { sendRaw(mqtt::encode(p)); }
  void sendRaw(const std::string& bytes) {
    error_code ec;
    asio::write(s_, asio::buffer(bytes), ec);
  }
  // Next packet, or nullopt on EOF / error / timeout.
  std::optional<mqtt::Packet> read() {
    while (true) {
      auto r = d_.next();
      if (!r.isOk()) return std::nullopt;
      if (r->has_value()) return std::move(**r);
      char buf[4096];
      error_code ec;
      size_t n = s_.read_some(asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      d_.feed(std::string_view(buf, n));
    }
  }
  Stream& stream() { return s_; }

 private:
  Stream s_;
  mqtt::Decoder d_;
};

class BrokerNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerOptions o;
    o.tick_interval = std::chrono::milliseconds(50);
    broker_ = std::make_unique<Broker>(io_, o, hooks_, Log());
    hooks_.broker = broker_.get();
  }
  void run() {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (thread_.joinable() && broker_) {
      std::promise<void> stopped;
      asio::post(io_, [&] { broker_->stop([&] { stopped.set_value(); }); });
      EXPECT_EQ(stopped.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
      thread_.join();  // run() returns: nothing left on the loop
    }
    broker_.reset();
  }
  Client<tcp::socket> tcpClient() {
    tcp::socket s(client_io_);
    error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), broker_->tcpPort()}, ec);
    EXPECT_FALSE(ec) << ec.message();
    setRecvTimeout(s.native_handle());
    return Client<tcp::socket>(std::move(s));
  }
  template <typename C>
  void connectOk(C& c, std::string id) {
    mqtt::Connect con;
    con.client_id = std::move(id);
    c.send(con);
    auto p = c.read();
    ASSERT_TRUE(p.has_value());
    ASSERT_EQ(std::get<mqtt::Connack>(*p).return_code, 0);
  }

  asio::io_context io_;
  asio::io_context client_io_;
  NetHooks hooks_;
  std::unique_ptr<Broker> broker_;
  std::thread thread_;
};

TEST_F(BrokerNetTest, TcpPublishSubscribeAndGarbage) {
  ASSERT_TRUE(broker_->listenTcp("127.0.0.1", 0).isOk());
  ASSERT_NE(broker_->tcpPort(), 0);
  run();
  auto sub = tcpClient();
  connectOk(sub, "sub");
  sub.send(mqtt::Subscribe{1, {{"t/#", 1}}});
  auto ack = sub.read();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(std::get<mqtt::Suback>(*ack).return_codes, std::vector<uint8_t>{1});

  auto bad = tcpClient();
  bad.sendRaw("\xff\xff garbage");
  EXPECT_FALSE(bad.read().has_value());  // closed by the broker

  auto pub = tcpClient();
  connectOk(pub, "pub");
  mqtt::Publish p;
  p.topic = "t/x";
  p.qos = 1;
  p.packet_id = 5;
  p.payload = std::make_shared<const std::string>(std::string(100000, 'p'));  // many TCP reads
  pub.send(p);
  auto puback = pub.read();
  ASSERT_TRUE(puback.has_value());
  EXPECT_EQ(std::get<mqtt::Puback>(*puback).packet_id, 5);
  auto got = sub.read();
  ASSERT_TRUE(got.has_value());
  auto& gp = std::get<mqtt::Publish>(*got);
  EXPECT_EQ(gp.topic, "t/x");
  EXPECT_EQ(gp.qos, 1);
  EXPECT_EQ(gp.payload->size(), 100000u);
  sub.send(mqtt::Puback{gp.packet_id});
  // Oversize payload: connection closed.
  p.payload = std::make_shared<const std::string>(std::string(128 * 1024 + 1, 'x'));
  pub.send(p);
  EXPECT_FALSE(pub.read().has_value());
  // The subscriber is unaffected.
  sub.send(mqtt::Pingreq{});
  auto pong = sub.read();
  ASSERT_TRUE(pong.has_value());
  EXPECT_TRUE(std::holds_alternative<mqtt::Pingresp>(*pong));
}

TEST_F(BrokerNetTest, PeerThatNeverReadsIsDisconnected) {
  BrokerOptions o;
  o.max_write_buffer_bytes = 1024;
  o.max_payload_bytes = 1024;
  broker_ = std::make_unique<Broker>(io_, o, hooks_, Log());
  hooks_.broker = broker_.get();
  ASSERT_TRUE(broker_->listenTcp("127.0.0.1", 0).isOk());
  run();
  auto c = tcpClient();
  connectOk(c, "lazy");
  // 16 MB of PINGREQ, never reading the PINGRESPs: once the kernel buffers are full the broker's
  // own queue passes its cap and the connection is dropped.
  std::string pings;
  for (int i = 0; i < 1 << 20; ++i) pings += std::string("\xc0\x00", 2);
  error_code ec;
  for (int i = 0; i < 8 && !ec; ++i) asio::write(c.stream(), asio::buffer(pings), ec);
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> l(hooks_.mu);
      if (!hooks_.reasons.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::lock_guard<std::mutex> l(hooks_.mu);
  ASSERT_EQ(hooks_.reasons.size(), 1u);
  EXPECT_EQ(hooks_.reasons[0], "write buffer overflow");
}

TEST_F(BrokerNetTest, DestroyWhileLoopKeepsRunning) {
  ASSERT_TRUE(broker_->listenTcp("127.0.0.1", 0).isOk());
  auto guard = asio::make_work_guard(io_);
  run();
  auto c = tcpClient();
  connectOk(c, "x");
  std::promise<void> destroyed;
  asio::post(io_, [&] {
    hooks_.broker = nullptr;
    broker_.reset();  // pending accept/tick/read handlers must not touch the dead broker
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  EXPECT_FALSE(c.read().has_value());                           // socket closed
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the tick timer fire
  guard.reset();
  io_.stop();
  thread_.join();
}

TEST_F(BrokerNetTest, ListenErrorsAreReported) {
  EXPECT_EQ(broker_->listenTcp("not-an-ip", 0).code(), Code::kInvalid);
  ASSERT_TRUE(broker_->listenTcp("127.0.0.1", 0).isOk());
  EXPECT_EQ(broker_->listenTcp("127.0.0.1", 0).code(), Code::kConflict);
  asio::io_context other;
  NetHooks h;
  Broker second(other, BrokerOptions{}, h, Log());
  Status s = second.listenTcp("127.0.0.1", broker_->tcpPort());
  EXPECT_EQ(s.code(), Code::kIo) << s.toString();
  EXPECT_EQ(second.listenTls("127.0.0.1", 0, TlsFiles{"/nonexistent/ca.pem", "x", "y"}).code(),
            Code::kInvalid);
}

// Throwaway PKI: CA, server cert, a registered client cert and an unregistered one.
class Pki {
 public:
  Pki() {
    dir = std::filesystem::temp_directory_path() / ("evg_broker_tls_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string d = dir.string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    ok = run("openssl req -x509 " + ec + "-keyout " + d + "/ca.key -out " + d +
             "/ca.crt -subj /CN=EvgTestCA -days 1") &&
         leaf("server", "localhost") && leaf("client", "ThingA") && leaf("stranger", "Other");
  }
  ~Pki() {
    std::error_code ignore;
    std::filesystem::remove_all(dir, ignore);
  }
  std::string path(const std::string& f) const { return (dir / f).string(); }
  bool ok = false;
  std::filesystem::path dir;

 private:
  static bool run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  bool leaf(const std::string& name, const std::string& cn) {
    const std::string d = dir.string();
    return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + d +
               "/" + name + ".key -out " + d + "/" + name + ".csr -subj /CN=" + cn) &&
           run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.crt -CAkey " + d +
               "/ca.key -CAcreateserial -out " + d + "/" + name + ".crt -days 1");
  }
};

using TlsSocket = asio::ssl::stream<tcp::socket>;

// A TCP socket that sends one byte per segment (TCP_NODELAY, a short pause after each): the
// broker gets a TLS handshake in many small reads.
class TrickleSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;
  explicit TrickleSocket(asio::io_context& io) : s_(io) {}
  executor_type get_executor() { return s_.get_executor(); }
  lowest_layer_type& lowest_layer() { return s_.lowest_layer(); }
  template <typename Buffers>
  size_t read_some(const Buffers& b, error_code& ec) {
    return s_.read_some(b, ec);
  }
  template <typename Buffers>
  size_t read_some(const Buffers& b) {
    return s_.read_some(b);
  }
  template <typename Buffers>
  size_t write_some(const Buffers& b, error_code& ec) {
    for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
      if (it->size() == 0) continue;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      return s_.write_some(asio::const_buffer(it->data(), 1), ec);
    }
    return 0;
  }
  template <typename Buffers>
  size_t write_some(const Buffers& b) {
    error_code ec;
    size_t n = write_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  tcp::socket s_;
};

TEST_F(BrokerNetTest, MutualTls) {
  Pki pki;
  if (!pki.ok) GTEST_SKIP() << "openssl CLI unavailable";
  auto fp = certificateFingerprintFromPemFile(pki.path("client.crt"));
  ASSERT_TRUE(fp.isOk()) << fp.status().toString();
  EXPECT_EQ(fp->size(), 64u);
  hooks_.known_fp = *fp;
  ASSERT_TRUE(broker_
                  ->listenTls("127.0.0.1", 0,
                              {pki.path("ca.crt"), pki.path("server.crt"), pki.path("server.key")})
                  .isOk());
  run();

  auto dial = [&](const std::string& who, error_code& ec) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->load_verify_file(pki.path("ca.crt"));
    if (!who.empty()) {
      ctx->use_certificate_file(pki.path(who + ".crt"), asio::ssl::context::pem);
      ctx->use_private_key_file(pki.path(who + ".key"), asio::ssl::context::pem);
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    TlsSocket s(client_io_, *ctx);
    s.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), broker_->tlsPort()});
    setRecvTimeout(s.lowest_layer().native_handle());
    s.handshake(asio::ssl::stream_base::client, ec);
    return std::make_pair(ctx, Client<TlsSocket>(std::move(s)));
  };

  error_code ec;
  auto [ctx, good] = dial("client", ec);
  ASSERT_FALSE(ec) << ec.message();
  connectOk(good, "some-client-id");
  {
    std::lock_guard<std::mutex> l(hooks_.mu);
    ASSERT_EQ(hooks_.identities.size(), 1u);
    EXPECT_EQ(hooks_.identities[0], "ThingA/tls");
  }
  {
    // The handshake arriving a byte at a time: the identity verification found (certificate)
    // is still the connection's when the handshake completes (Finished), many reads later.
    asio::ssl::context tctx(asio::ssl::context::tls_client);
    tctx.load_verify_file(pki.path("ca.crt"));
    tctx.use_certificate_file(pki.path("client.crt"), asio::ssl::context::pem);
    tctx.use_private_key_file(pki.path("client.key"), asio::ssl::context::pem);
    tctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<TrickleSocket> ts(client_io_, tctx);
    ts.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), broker_->tlsPort()});
    ts.lowest_layer().set_option(tcp::no_delay(true));
    setRecvTimeout(ts.lowest_layer().native_handle());
    ts.handshake(asio::ssl::stream_base::client, ec);
    ASSERT_FALSE(ec) << ec.message();
    Client<asio::ssl::stream<TrickleSocket>> trickled(std::move(ts));
    connectOk(trickled, "trickled-client");
    std::lock_guard<std::mutex> l(hooks_.mu);
    ASSERT_EQ(hooks_.identities.size(), 2u);
    EXPECT_EQ(hooks_.identities[1], "ThingA/tls");
  }
  good.send(mqtt::Subscribe{1, {{"a", 0}}});
  ASSERT_TRUE(good.read().has_value());
  mqtt::Publish p;
  p.topic = "a";
  p.payload = std::make_shared<const std::string>("over tls");
  good.send(p);
  auto echo = good.read();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*std::get<mqtt::Publish>(*echo).payload, "over tls");

  // A CA-signed but unregistered certificate, and no certificate at all, are refused. With TLS
  // 1.3 the client may only notice on its first read.
  for (const std::string who : {"stranger", ""}) {
    error_code ec2;
    auto [ctx2, bad] = dial(who, ec2);
    if (!ec2) {
      bad.send(mqtt::Connect{});
      EXPECT_FALSE(bad.read().has_value()) << who;
    }
  }
  std::lock_guard<std::mutex> l(hooks_.mu);
  EXPECT_EQ(hooks_.identities.size(), 2u);
}

TEST_F(BrokerNetTest, PersistenceIsCommittedByStopAndRestoredByTheNextBroker) {
  // A long flush interval: stop() itself must commit what is pending.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("evg-broker-net-" + std::to_string(::getpid()) + ".db"))
                               .string();
  std::filesystem::remove(path);
  ASSERT_TRUE(broker_->enablePersistence(path, std::chrono::milliseconds(1000)).isOk());
  ASSERT_TRUE(broker_->listenTcp("127.0.0.1", 0).isOk());
  run();
  {
    auto dev = tcpClient();
    mqtt::Connect con;
    con.client_id = "dev";
    con.clean_session = false;
    dev.send(con);
    ASSERT_TRUE(dev.read().has_value());
    dev.send(mqtt::Subscribe{1, {{"p/#", 1}}});
    ASSERT_TRUE(dev.read().has_value());
    dev.send(mqtt::Disconnect{});
    EXPECT_FALSE(dev.read().has_value());
  }
  std::promise<void> published;
  asio::post(io_, [&] {
    broker_->publish(Message{"p/1", std::make_shared<const std::string>("queued"), 1, false}, "x");
    broker_->publish(Message{"r/1", std::make_shared<const std::string>("kept"), 0, true}, "x");
    published.set_value();
  });
  published.get_future().wait();
  TearDown();  // stop(): waits for the commit

  asio::io_context io2;
  Broker second(io2, BrokerOptions{}, hooks_, Log());
  ASSERT_TRUE(second.enablePersistence(path).isOk());
  auto st = second.stats();
  EXPECT_TRUE(st.persistence);
  EXPECT_EQ(st.restored_sessions, 1u);
  EXPECT_EQ(st.restored_messages, 1u);
  EXPECT_EQ(st.restored_retained, 1u);
  EXPECT_EQ(st.sessions, 1u);
  EXPECT_EQ(st.retained, 1u);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}

}  // namespace
}  // namespace evg::broker
