#include "cloud/cloud_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <utility>

namespace evg::cloud {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {
// AWS IoT Core: MQTT with client certificates on port 443 needs this ALPN protocol name.
constexpr unsigned char kAlpnAwsMqtt[] = "\x0ex-amzn-mqtt-ca";
// AWS IoT Core accepts at most 8 topic filters per SUBSCRIBE.
constexpr size_t kFiltersPerSubscribe = 8;
}  // namespace

CloudClient::CloudClient(asio::io_context& io, CloudOptions opts, CloudHooks& hooks, Log log)
    : io_(io),
      opts_(std::move(opts)),
      hooks_(hooks),
      log_(std::move(log)),
      session_(SessionOptions{opts_.client_id, opts_.keep_alive_s, !opts_.persistent_subscriptions,
                              opts_.max_packet_size},
               *this),
      resolver_(io),
      retry_timer_(io),
      op_timer_(io),
      keepalive_timer_(io) {
  spool_ = std::make_unique<spool::Spool>(io_, opts_.spool, log_);
  drain_ = std::make_unique<Drain>(*spool_, opts_.max_inflight);
}

CloudClient::~CloudClient() {
  *alive_ = false;
  closeSocket();
}

Status CloudClient::makeTlsContext() {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (opts_.ca_path.empty()) return Status::invalid("cloud TLS: no CA (caPath) configured");
  ctx->load_verify_file(opts_.ca_path, ec);
  if (ec) return Status::io("cloud TLS: CA " + opts_.ca_path + ": " + ec.message());
  if (opts_.cert_path.empty() || opts_.key_path.empty()) {
    return Status::invalid("cloud TLS: the core certificate and private key are not configured");
  }
  ctx->use_certificate_chain_file(opts_.cert_path, ec);
  if (ec) return Status::io("cloud TLS: core certificate " + opts_.cert_path + ": " + ec.message());
  ctx->use_private_key_file(opts_.key_path, ssl::context::pem, ec);
  if (ec) return Status::io("cloud TLS: core private key " + opts_.key_path + ": " + ec.message());
  ctx->set_verify_mode(ssl::verify_peer, ec);
  tls_ctx_ = std::move(ctx);
  return Status::ok();
}

Status CloudClient::start() {
  if (opts_.host.empty()) return Status::invalid("cloud: no host configured");
  if (!opts_.plaintext) EVG_RETURN_IF_ERROR(makeTlsContext());
  EVG_RETURN_IF_ERROR(spool_->open().withContext("cloud spool: "));
  if (opts_.plaintext) {
    log_.warn("INSECURE: the cloud connection to " + opts_.host + ":" + std::to_string(opts_.port) +
              " is plaintext MQTT (evergreen.cloud.plaintext)");
  }
  connect();
  return Status::ok();
}

void CloudClient::stop(std::function<void()> done) {
  stopping_ = true;
  stats_.state = "stopped";
  retry_timer_.cancel();
  if (session_.connected()) {
    session_.disconnect();
    flushOutput();
  }
  // Give the DISCONNECT a moment to leave, then close and commit the spool.
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(50));
  t->async_wait([this, t, alive = alive_, done = std::move(done)](const error_code&) mutable {
    if (!*alive) return;
    ++gen_;
    closeSocket();
    spool_->flush(std::move(done));
  });
}

void CloudClient::closeSocket() {
  error_code ec;
  op_timer_.cancel();
  keepalive_timer_.cancel();
  resolver_.cancel();
  if (tls_) tls_->lowest_layer().close(ec);
  if (tcp_) tcp_->close(ec);
  writing_ = false;
  write_buf_.clear();
}

void CloudClient::connect() {
  if (stopping_) return;
  uint64_t gen = ++gen_;
  stats_.state = "connecting";
  closeSocket();
  tls_.reset();
  tcp_.reset();
  if (opts_.plaintext) {
    tcp_ = std::make_unique<Tcp::socket>(io_);
  } else {
    tls_ = std::make_unique<TlsStream>(io_, *tls_ctx_);
    SSL* h = tls_->native_handle();
    SSL_set_tlsext_host_name(h, opts_.host.c_str());
    if (opts_.port == 443) SSL_set_alpn_protos(h, kAlpnAwsMqtt, sizeof(kAlpnAwsMqtt) - 1);
    tls_->set_verify_callback(ssl::host_name_verification(opts_.host));
  }
  op_timer_.expires_after(std::chrono::seconds(opts_.operation_timeout_s));
  op_timer_.async_wait([this, gen, alive = alive_](const error_code& ec) {
    if (!*alive || ec || gen != gen_) return;
    fail(gen, "no CONNACK within " + std::to_string(opts_.operation_timeout_s) + " s");
  });
  resolver_.async_resolve(
      opts_.host, std::to_string(opts_.port),
      [this, gen, alive = alive_](const error_code& ec, Tcp::resolver::results_type results) {
        if (!*alive || gen != gen_) return;
        if (ec) return fail(gen, "resolve " + opts_.host + ": " + ec.message());
        Tcp::socket& sock = tls_ ? tls_->next_layer() : *tcp_;
        asio::async_connect(sock, results,
                            [this, gen, alive](const error_code& ec2, const Tcp::endpoint&) {
                              if (!*alive || gen != gen_) return;
                              if (ec2) return fail(gen, "connect: " + ec2.message());
                              onTcpConnected(gen);
                            });
      });
}

void CloudClient::onTcpConnected(uint64_t gen) {
  Tcp::socket& sock = tls_ ? tls_->next_layer() : *tcp_;
  error_code ec;
  sock.set_option(Tcp::no_delay(true), ec);
  if (!tls_) return onTransportReady(gen);
  tls_->async_handshake(ssl::stream_base::client, [this, gen, alive = alive_](const error_code& e) {
    if (!*alive || gen != gen_) return;
    if (e) return fail(gen, "TLS handshake: " + e.message());
    onTransportReady(gen);
  });
}

void CloudClient::onTransportReady(uint64_t gen) {
  session_.begin();
  flushOutput();
  readLoop(gen);
}

void CloudClient::readLoop(uint64_t gen) {
  auto handler = [this, gen, alive = alive_](const error_code& ec, size_t n) {
    if (!*alive || gen != gen_) return;
    if (ec) return fail(gen, ec == asio::error::eof ? "closed by the server" : ec.message());
    alive_since_ping_ = true;
    Status s = session_.receive(std::string_view(read_buf_.data(), n));
    if (gen != gen_) return;  // an event handler reconnected or stopped
    if (!s) return fail(gen, s.message());
    flushOutput();
    readLoop(gen);
  };
  if (tls_) {
    tls_->async_read_some(asio::buffer(read_buf_), std::move(handler));
  } else {
    tcp_->async_read_some(asio::buffer(read_buf_), std::move(handler));
  }
}

void CloudClient::flushOutput() {
  if (writing_ || session_.output().empty()) return;
  if (!tls_ && !tcp_) return;
  writing_ = true;
  write_buf_.clear();
  std::swap(write_buf_, session_.output());
  uint64_t gen = gen_;
  auto handler = [this, gen, alive = alive_](const error_code& ec, size_t) {
    if (!*alive || gen != gen_) return;
    writing_ = false;
    if (ec) return fail(gen, "write: " + ec.message());
    flushOutput();
  };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(write_buf_), std::move(handler));
  } else {
    asio::async_write(*tcp_, asio::buffer(write_buf_), std::move(handler));
  }
}

void CloudClient::fail(uint64_t gen, const std::string& why) {
  if (gen != gen_ || stopping_) return;
  bool was_connected = session_.connected();
  ++gen_;  // every handler of this connection is now stale
  closeSocket();
  session_.reset();
  drain_->onDisconnected();
  subscribed_.clear();
  stats_.last_error = why;
  stats_.state = "disconnected";
  if (was_connected) {
    ++stats_.disconnects;
    log_.warn("cloud connection to " + opts_.host + ":" + std::to_string(opts_.port) + " lost: " +
              why + "; " + std::to_string(spool_->stats().queued) + " messages stay spooled");
  } else {
    ++stats_.connect_failures;
    log_.warn("cloud connection to " + opts_.host + ":" + std::to_string(opts_.port) +
              " failed: " + why);
  }
  scheduleReconnect();
}

void CloudClient::scheduleReconnect() {
  if (stopping_) return;
  int cap_ms = std::max(opts_.max_retry_interval_s * 1000, opts_.initial_backoff_ms);
  backoff_ms_ = backoff_ms_ == 0 ? opts_.initial_backoff_ms : std::min(backoff_ms_ * 2, cap_ms);
  // Jitter: a delay in [backoff/2, backoff], so many cores do not reconnect in lockstep.
  std::uniform_int_distribution<int> d(backoff_ms_ / 2, backoff_ms_);
  int delay = d(rng_);
  log_.info("cloud: reconnecting in " + std::to_string(delay) + " ms");
  retry_timer_.expires_after(std::chrono::milliseconds(delay));
  retry_timer_.async_wait([this, alive = alive_](const error_code& ec) {
    if (!*alive || ec) return;
    connect();
  });
}

void CloudClient::armKeepAlive(uint64_t gen) {
  if (opts_.keep_alive_s == 0) return;
  keepalive_timer_.expires_after(std::chrono::seconds(opts_.keep_alive_s));
  keepalive_timer_.async_wait([this, gen, alive = alive_](const error_code& ec) {
    if (!*alive || ec || gen != gen_) return;
    if (!alive_since_ping_) {
      return fail(gen, "no answer to PINGREQ within " + std::to_string(opts_.keep_alive_s) + " s");
    }
    alive_since_ping_ = false;
    session_.ping();
    flushOutput();
    armKeepAlive(gen);
  });
}

void CloudClient::onConnected(bool session_present) {
  op_timer_.cancel();
  backoff_ms_ = 0;
  ++stats_.connects;
  stats_.state = "connected";
  stats_.last_error.clear();
  alive_since_ping_ = true;
  armKeepAlive(gen_);
  log_.info("cloud connected to " + opts_.host + ":" + std::to_string(opts_.port) +
            (opts_.plaintext ? " (plaintext)" : " (TLS)") + " as '" + opts_.client_id +
            "', session present " + (session_present ? "yes" : "no") + "; " +
            std::to_string(spool_->stats().queued) + " messages spooled");
  subscribed_.clear();
  subscribeFilters(std::vector<std::string>(filters_.begin(), filters_.end()));
  drain_->onConnected(session_);
  hooks_.onCloudConnected();
}

void CloudClient::subscribeFilters(const std::vector<std::string>& filters) {
  if (!session_.connected() || filters.empty()) return;
  uint8_t qos = opts_.persistent_subscriptions ? 1 : 0;
  std::vector<mqtt::SubscribeTopic> batch;
  for (const auto& f : filters) {
    batch.push_back({f, qos});
    subscribed_.insert(f);
    if (batch.size() == kFiltersPerSubscribe) {
      session_.subscribe(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) session_.subscribe(batch);
  stats_.subscriptions = subscribed_.size();
  flushOutput();
}

void CloudClient::setSubscriptions(std::vector<std::string> filters, bool persistent) {
  if (persistent != opts_.persistent_subscriptions) {
    opts_.persistent_subscriptions = persistent;
    session_.options().clean_session = !persistent;
    log_.info(std::string("cloud subscriptions: ") +
              (persistent ? "AtLeastOncePersistent (QoS 1, cleanSession=0)"
                          : "AtMostOnce (QoS 0, cleanSession=1)") +
              " from the next connection");
  }
  std::set<std::string> wanted(filters.begin(), filters.end());
  filters_ = wanted;
  if (!session_.connected()) return;
  std::vector<std::string> add, remove;
  for (const auto& f : wanted)
    if (!subscribed_.count(f)) add.push_back(f);
  for (const auto& f : subscribed_)
    if (!wanted.count(f)) remove.push_back(f);
  for (const auto& f : remove) subscribed_.erase(f);
  if (!remove.empty()) session_.unsubscribe(remove);
  subscribeFilters(add);
  stats_.subscriptions = subscribed_.size();
  flushOutput();
}

void CloudClient::onPuback(uint16_t packet_id) {
  if (drain_->onPuback(packet_id)) schedulePump();
}

void CloudClient::onMessage(const mqtt::Publish& publish) {
  ++stats_.received;
  hooks_.onCloudMessage(publish.topic, publish.payload);
}

void CloudClient::onSuback(uint16_t, const std::vector<uint8_t>& codes) {
  for (uint8_t c : codes) {
    if (c == mqtt::kSubackFailure) {
      ++stats_.subscribe_failures;
      log_.error("cloud: the broker refused a subscription (SUBACK 0x80)");
    }
  }
}

void CloudClient::publish(const std::string& topic, std::shared_ptr<const std::string> payload) {
  spool_->append(topic, std::move(payload));
  schedulePump();
}

void CloudClient::schedulePump() {
  if (pump_scheduled_) return;
  pump_scheduled_ = true;
  // Coalesced: many publishes in one loop turn become one pump and one socket write.
  asio::post(io_, [this, alive = alive_]() {
    if (!*alive) return;
    pump_scheduled_ = false;
    if (drain_->pump(session_) > 0) flushOutput();
  });
}

}  // namespace evg::cloud
