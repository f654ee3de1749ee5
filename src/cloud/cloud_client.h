#pragma once
// CloudClient: the core's upstream connection (AWS IoT Core or any MQTT 3.1.1 broker) and the
// cloud spooler. Transport (Asio TCP, TLS via OpenSSL) around the sans-I/O ClientSession and
// Drain; owns the Spool.
//
//   start()        spool.open() (blocking, at startup) -> connect()
//   connect()      resolve host -> TCP -> [TLS: mutual auth with the core cert/key, server
//                  verified against caPath and the host name, SNI, ALPN x-amzn-mqtt-ca on 443]
//                  -> CONNECT(client id = core thing name, keepAlive, cleanSession)
//   CONNACK 0      state "connected": subscribe the Source=cloud filters, drain the spool
//                  -> hooks.onCloudConnected()
//   publish()      spool.append(); the drain is pumped (coalesced, once per loop turn)
//   PUBLISH in     hooks.onCloudMessage(topic, payload) (the core routes it from `cloud`)
//   failure        state "disconnected": reconnect after a jittered exponential backoff
//                  (initial_backoff_ms doubling, capped by mqttMaxConnectionRetryInterval)
//   keepAlive      PINGREQ every keepAlive s; no traffic for 1.5 x keepAlive drops the connection
//
// Local traffic never waits on any of this: publish() only appends to memory.
// Loop thread only (the spool's disk writes run on its own pool thread).

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/asio.h"
// clang-format off
#include <boost/asio/ssl.hpp>
// clang-format on
#include "base/log.h"
#include "base/status.h"
#include "cloud/drain.h"
#include "cloud/session.h"
#include "spool/spool.h"

namespace evg::cloud {

struct CloudOptions {
  std::string host;
  uint16_t port = 8883;
  bool plaintext = false;  // INSECURE: no TLS (local test brokers only)
  std::string client_id;   // the core thing name
  std::string ca_path;     // verifies the server
  std::string cert_path;   // core certificate (client auth)
  std::string key_path;    // core private key
  uint16_t keep_alive_s = 600;
  int max_retry_interval_s = 60;  // mqttMaxConnectionRetryInterval
  int initial_backoff_ms = 200;
  int operation_timeout_s = 5;  // connect/handshake/CONNACK deadline (mqttOperationTimeout)
  size_t max_inflight = 100;    // publish window
  bool persistent_subscriptions = false;  // AtLeastOncePersistent: cleanSession=0, QoS 1 subs
  size_t max_packet_size = 256 * 1024;    // inbound
  spool::SpoolOptions spool;
};

class CloudHooks {
 public:
  virtual ~CloudHooks() = default;
  virtual void onCloudMessage(const std::string& topic,
                              std::shared_ptr<const std::string> payload) = 0;
  // After every accepted CONNACK, once the filters are resubscribed and the drain restarted
  // (the shadow sync subscribes its topics and runs its full sync here).
  virtual void onCloudConnected() {}
};

struct CloudStats {
  std::string state = "disconnected";  // disconnected | connecting | connected | stopped
  uint64_t connects = 0;               // CONNACKs accepted
  uint64_t connect_failures = 0;
  uint64_t disconnects = 0;
  std::string last_error;
  uint64_t received = 0;  // inbound PUBLISHes
  size_t subscriptions = 0;
  uint64_t subscribe_failures = 0;  // SUBACK 0x80
};

class CloudClient final : public SessionEvents {
 public:
  CloudClient(boost::asio::io_context& io, CloudOptions opts, CloudHooks& hooks, Log log);
  ~CloudClient() override;
  CloudClient(const CloudClient&) = delete;
  CloudClient& operator=(const CloudClient&) = delete;

  // Opens the spool (a corrupt one is moved aside, not an error) and starts connecting.
  Status start();
  // Sends DISCONNECT when connected, closes, commits the spool; then done().
  void stop(std::function<void()> done);

  // Queues a message for the cloud (QoS 1 via the spool).
  void publish(const std::string& topic, std::shared_ptr<const std::string> payload);
  // The filters to subscribe upstream (Source=cloud subjects). Diffed against the current set;
  // a change of `persistent` takes effect on the next connection.
  void setSubscriptions(std::vector<std::string> filters, bool persistent);
  void setSpoolMaxBytes(size_t max_bytes) { spool_->setMaxSizeBytes(max_bytes); }
  size_t spoolMaxBytes() const { return spool_->options().max_size_bytes; }

  const CloudStats& stats() const { return stats_; }
  const DrainStats& drainStats() const { return drain_->stats(); }
  const spool::SpoolStats& spoolStats() const { return spool_->stats(); }
  double spoolOldestAgeSeconds() const { return spool_->oldestAgeSeconds(); }
  const CloudOptions& options() const { return opts_; }
  bool connected() const { return session_.connected(); }

  // SessionEvents
  void onConnected(bool session_present) override;
  void onPuback(uint16_t packet_id) override;
  void onMessage(const mqtt::Publish& publish) override;
  void onSuback(uint16_t packet_id, const std::vector<uint8_t>& codes) override;

 private:
  using Tcp = boost::asio::ip::tcp;
  using TlsStream = boost::asio::ssl::stream<Tcp::socket>;

  Status makeTlsContext();
  void connect();
  void onTcpConnected(uint64_t gen);
  void onTransportReady(uint64_t gen);
  void readLoop(uint64_t gen);
  void flushOutput();
  void schedulePump();
  void fail(uint64_t gen, const std::string& why);
  void scheduleReconnect();
  void armKeepAlive(uint64_t gen);
  void closeSocket();
  void subscribeFilters(const std::vector<std::string>& filters);

  boost::asio::io_context& io_;
  CloudOptions opts_;
  CloudHooks& hooks_;
  Log log_;
  std::unique_ptr<spool::Spool> spool_;
  ClientSession session_;
  std::unique_ptr<Drain> drain_;
  std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
  Tcp::resolver resolver_;
  std::unique_ptr<Tcp::socket> tcp_;
  std::unique_ptr<TlsStream> tls_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer op_timer_;
  boost::asio::steady_timer keepalive_timer_;
  std::array<char, 16384> read_buf_{};
  std::string write_buf_;
  bool writing_ = false;
  bool pump_scheduled_ = false;
  bool stopping_ = false;
  bool alive_since_ping_ = true;
  uint64_t gen_ = 0;  // connection generation: handlers of an older connection are ignored
  int backoff_ms_ = 0;
  std::mt19937 rng_{std::random_device{}()};
  std::set<std::string> filters_;     // wanted
  std::set<std::string> subscribed_;  // sent upstream on this connection
  CloudStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace evg::cloud
