#include "broker/broker.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <deque>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "broker/broker_core.h"
#include "broker/broker_store.h"
#include "broker/conn_poller.h"
#include "broker/tls_engine.h"
#include "certs/certs.h"

namespace evg::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Accepted sockets: bound to the io_context's own executor type (no type-erased executor); their
// descriptor moves to the ConnPoller at once.
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using boost::system::error_code;

namespace {

std::string hexOf(const unsigned char* p, unsigned n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 0x0F]);
  }
  return s;
}

std::optional<std::string> fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &n) != 1) return std::nullopt;
  return hexOf(md, n);
}

// "ip:port" of the peer, computed when a log line or the core needs it (not stored per
// connection); "?" once the socket is closed.
std::string peerOf(int fd) {
  if (fd < 0) return "?";
  tcp::endpoint ep;
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (::getpeername(fd, ep.data(), &len) != 0) return "?";
  ep.resize(len);
  error_code ec;
  return ep.address().to_string(ec) + ":" + std::to_string(ep.port());
}

}  // namespace

Result<std::string> certificateFingerprintFromPemFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return Status::notFound("cannot open certificate file " + path);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return Status::invalid("no PEM certificate in " + path);
  auto fp = fingerprint(cert);
  X509_free(cert);
  if (!fp) return Status::internal("SHA-256 digest failed for " + path);
  return *fp;
}

// ---- Connections ----

class NetConn : public std::enable_shared_from_this<NetConn> {
 public:
  NetConn(Broker::Impl* owner, ConnId id) : owner_(owner), id_(id) {}
  virtual ~NetConn() = default;
  virtual void start() = 0;
  // Queue a frame for writing (ignored once closing).
  // Writes are deferred to the end of the current loop turn (Impl::flushDirty), so every packet
  // produced while handling one read goes out in one gathered write per connection.
  void send(Frame&& f);
  // Flush what is queued (bounded by close_flush_timeout), then close.
  virtual void closeAfterFlush() = 0;
  // Close the socket now and leave the owner's table. Idempotent.
  virtual void shutdownNow() = 0;
  void detach() { owner_ = nullptr; }
  size_t pendingBytes() const { return pending_bytes_; }
  virtual void startWrite() = 0;
  // EPOLL* bits from the broker's ConnPoller for this connection's socket.
  virtual void onEvents(uint32_t events) = 0;

 protected:
  friend class Broker::Impl;

  Broker::Impl* owner_;
  ConnId id_;
  LazyDeque<Frame> pending_;
  size_t pending_bytes_ = 0;
  // The flags together at the end: the derived StreamConn's descriptor fills the padding after.
  bool dirty_ = false;    // queued in Impl::dirty_ for the next flush
  bool closing_ = false;  // the core asked to close: flush, then shut down
  bool closed_ = false;
  bool in_core_ = false;  // BrokerCore::onAccept accepted it
};

class Broker::Impl : public Transport, public PersistSink {
 public:
  Impl(asio::io_context& io, BrokerOptions options, BrokerHooks& hooks, Log log)
      : io_(io),
        options_(options),
        hooks_(hooks),
        log_(std::move(log)),
        core_(options_, hooks_, *this, clock_, log_),
        tick_timer_(io) {}

  ~Impl() override {
    if (pool_) pool_->join();  // the running commit finishes; its post-back finds alive_ gone
    for (auto& [id, c] : conns_) c->detach();
    for (auto& [id, c] : conns_) c->shutdownNow();
    conns_.clear();
  }

  // Transport
  void send(ConnId id, Frame&& f) override {
    auto it = conns_.find(id);
    if (it != conns_.end()) it->second->send(std::move(f));
  }
  void close(ConnId id) override {
    auto it = conns_.find(id);
    if (it != conns_.end()) it->second->closeAfterFlush();
  }
  size_t pendingBytes(ConnId id) const override {
    auto it = conns_.find(id);
    return it == conns_.end() ? 0 : it->second->pendingBytes();
  }

  Status listen(bool tls, const std::string& address, uint16_t port, const TlsFiles* files);
  Status reloadTls(const TlsFiles& files);
  void doAccept(tcp::acceptor& acc, bool tls);
  void acceptFailed(tcp::acceptor& acc, bool tls, const error_code& ec);
  void startTick();
  // A connection got frames while idle: flush it (with all others) once this loop turn ends.
  void markDirty(std::shared_ptr<NetConn> c) {
    dirty_.push_back(std::move(c));
    if (flush_posted_ || draining_) return;  // draining: flushed when the batch is done
    flush_posted_ = true;
    std::weak_ptr<bool> alive = alive_;
    asio::post(io_, [this, alive] {
      if (alive.expired()) return;
      flushDirty();
    });
  }
  void flushDirty() {
    flush_posted_ = false;
    flushing_.swap(dirty_);
    for (auto& c : flushing_) {
      c->dirty_ = false;
      c->startWrite();
    }
    flushing_.clear();
  }
  void forget(ConnId id) {
    conns_.erase(id);
    maybeFinishStop();
  }
  // The set every accepted socket joins (conn_poller.h); opened with the first listener.
  Status openPoller() {
    std::weak_ptr<bool> alive = alive_;
    return poller_.open(
        [this, alive](uint64_t key, uint32_t events) {
          if (alive.expired()) return;
          auto it = conns_.find(key);
          if (it == conns_.end()) return;  // closed meanwhile
          std::shared_ptr<NetConn> c = it->second;
          draining_ = true;
          c->onEvents(events);
        },
        // Everything the batch queued goes out now, in this turn: no flush handler of its own
        // (one loop round and a zero-timeout epoll_wait less per wake-up).
        [this, alive] {
          if (alive.expired()) return;
          draining_ = false;
          flushDirty();
        });
  }
  void maybeFinishStop() {
    // No socket left: the poller's wait must not keep the io_context running.
    if (stopping_ && conns_.empty()) {
      poller_.close();  // a batch cut short by this close reports no end
      draining_ = false;
    }
    if (stopping_ && stop_done_ && conns_.empty()) {
      auto done = std::move(stop_done_);
      stop_done_ = nullptr;
      whenPersisted(std::move(done));
    }
  }

  // ---- Persistence: PersistSink, group commit on one pool thread ----
  Status enablePersistence(const std::string& path, std::chrono::milliseconds flush_interval) {
    if (store_) return Status::conflict("persistence already enabled");
    flush_interval_ = flush_interval;
    auto st = BrokerStore::open(path);
    if (!st) return st.status();
    if (!st.value()->moved_aside().empty()) {
      log_.error("broker store was corrupt and was moved aside to " + st.value()->moved_aside() +
                 "; starting with no saved sessions or retained messages");
    }
    auto loaded = st.value()->load();
    if (!loaded) return loaded.status();
    store_ = std::move(st).value();
    pool_ = std::make_unique<asio::thread_pool>(1);
    core_.setPersistSink(this);
    restored_ = core_.restore(std::move(loaded).value());
    log_.info("broker state restored from " + path + ": " + std::to_string(restored_.sessions) +
              " persistent sessions, " + std::to_string(restored_.messages) + " queued messages, " +
              std::to_string(restored_.retained) + " retained messages" +
              (restored_.dropped != 0
                   ? ", " + std::to_string(restored_.dropped) + " dropped (over the bounds)"
                   : std::string()));
    return Status::ok();
  }
  void persist(PersistOp&& op) override {
    using K = PersistOp::Kind;
    if (op.kind == K::kMessageState || op.kind == K::kMessageDelete) {
      auto it = batch_adds_.find(op.seq);
      if (it != batch_adds_.end()) {  // still unwritten: coalesce
        PersistOp& add = batch_[it->second];
        if (op.kind == K::kMessageDelete) {
          add.cancelled = true;
          add.payload.reset();
          batch_adds_.erase(it);
          ++pstats_.coalesced;
        } else {
          add.packet_id = op.packet_id;
          add.awaiting_comp = op.awaiting_comp;
        }
        return;
      }
    }
    if (op.kind == K::kMessageAdd) batch_adds_[op.seq] = batch_.size();
    batch_.push_back(std::move(op));
    if (!commit_running_) armCommit();
  }
  // The next commit starts flush_interval_ from now (0: when this loop turn ends). Messages acked
  // meanwhile are never written (coalesced in persist()).
  void armCommit() {
    if (commit_armed_) return;
    commit_armed_ = true;
    std::weak_ptr<bool> alive = alive_;
    if (flush_interval_.count() == 0) {
      asio::post(io_, [this, alive] {
        if (alive.expired() || !commit_armed_) return;
        commit_armed_ = false;
        startCommit();
      });
      return;
    }
    commit_timer_.expires_after(flush_interval_);
    commit_timer_.async_wait([this, alive](const error_code& ec) {
      if (alive.expired() || ec || !commit_armed_) return;
      commit_armed_ = false;
      startCommit();
    });
  }
  void startCommit() {
    if (commit_running_) return;
    if (commit_armed_) {
      commit_armed_ = false;
      commit_timer_.cancel();
    }
    if (batch_.empty()) {
      notifyPersisted();
      return;
    }
    commit_running_ = true;
    auto ops = std::make_shared<std::vector<PersistOp>>(std::move(batch_));
    batch_.clear();
    batch_adds_.clear();
    std::weak_ptr<bool> alive = alive_;
    BrokerStore* store = store_.get();
    // The loop must not run out of work (io_context::run returning) while the commit runs on the
    // pool: the post-back (and a stop() waiting for it) would never run.
    auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
        io_.get_executor());
    asio::post(*pool_, [this, alive, store, ops, work] {
      Status st = store->commit(*ops);
      asio::post(io_, [this, alive, ops, work, st = std::move(st)] {
        if (alive.expired()) return;
        commit_running_ = false;
        if (st) {
          ++pstats_.commits;
          pstats_.ops += static_cast<uint64_t>(std::count_if(
              ops->begin(), ops->end(), [](const PersistOp& o) { return !o.cancelled; }));
        } else {
          ++pstats_.failures;
          if (pstats_.failures == 1 || pstats_.failures % 100 == 0) {
            log_.error("broker store commit failed (" + std::to_string(pstats_.failures) +
                       " so far): " + st.message());
          }
        }
        // What accumulated meanwhile is the next group: now if someone waits (stop), else after
        // the interval.
        if (!persist_waiters_.empty() || batch_.empty()) {
          startCommit();
        } else {
          armCommit();
        }
      });
    });
  }
  void notifyPersisted() {
    auto waiters = std::move(persist_waiters_);
    persist_waiters_.clear();
    for (auto& w : waiters) asio::post(io_, std::move(w));
  }
  // done() once everything persisted so far is committed (or at once without persistence).
  void whenPersisted(std::function<void()> done) {
    if (!store_ || (!commit_running_ && batch_.empty())) {
      asio::post(io_, std::move(done));
      return;
    }
    persist_waiters_.push_back(std::move(done));
    if (!commit_running_) startCommit();
  }
  void stop(std::function<void()> done) {
    stopping_ = true;
    stop_done_ = std::move(done);
    error_code ec;
    if (tcp_acc_) tcp_acc_->close(ec);
    if (tls_acc_) tls_acc_->close(ec);
    tick_timer_.cancel();
    tcp_accept_retry_.cancel();
    tls_accept_retry_.cancel();
    core_.closeAll("broker stopping");
    // Sockets still in the TLS handshake are unknown to the core.
    std::vector<std::shared_ptr<NetConn>> rest;
    for (auto& [id, c] : conns_) rest.push_back(c);
    for (auto& c : rest) c->closeAfterFlush();
    maybeFinishStop();
  }

  asio::io_context& io_;
  BrokerOptions options_;
  BrokerHooks& hooks_;
  Log log_;
  SteadyClock clock_;
  BrokerCore core_;
  asio::steady_timer tick_timer_;
  bool ticking_ = false;
  std::optional<tcp::acceptor> tcp_acc_;
  std::optional<tcp::acceptor> tls_acc_;
  asio::steady_timer tcp_accept_retry_{io_};
  asio::steady_timer tls_accept_retry_{io_};
  static constexpr auto kAcceptWarnEvery = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point accept_warned_at_{};
  uint64_t accept_failures_ = 0;
  std::unique_ptr<asio::ssl::context> ssl_ctx_;
  TlsBio tls_bio_;  // shared by every TLS session (all driven from this loop)
  // Plaintext of one TLS read, shared by every connection (all run on this loop, one at a time).
  std::vector<char> tls_scratch_;
  char* tlsScratch() {
    if (tls_scratch_.empty()) tls_scratch_.resize(kTlsScratchBytes);
    return tls_scratch_.data();
  }
  static constexpr size_t kTlsScratchBytes = 16 * 1024;  // one TLS record's plaintext
  size_t tlsScratchSize() const { return kTlsScratchBytes; }
  // Every socket read lands here (all run on this loop, one at a time): no per-connection buffer.
  std::vector<char> read_scratch_;
  char* readScratch() {
    if (read_scratch_.empty())
      read_scratch_.resize(std::max<size_t>(options_.read_buffer_bytes, 512));
    return read_scratch_.data();
  }
  size_t readScratchSize() const { return read_scratch_.size(); }
  std::vector<std::unique_ptr<asio::ssl::context>> retired_ssl_ctx_;  // see reloadTls
  std::unordered_map<ConnId, std::shared_ptr<NetConn>> conns_;
  ConnPoller poller_{
      io_, options_.max_socket_events_per_turn,
      ConnPoller::Coalescing{options_.coalesce_input, options_.coalesce_busy_wakeups}};
  std::vector<std::shared_ptr<NetConn>> dirty_;
  std::vector<std::shared_ptr<NetConn>> flushing_;
  bool flush_posted_ = false;
  bool draining_ = false;  // handling a batch of socket events: flushed when it is done
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  ConnId next_id_ = 1;
  bool stopping_ = false;
  std::function<void()> stop_done_;
  // Persistence (null/empty when off). pool_ runs store_'s commits, one at a time.
  std::unique_ptr<BrokerStore> store_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::vector<PersistOp> batch_;
  std::unordered_map<uint64_t, size_t> batch_adds_;  // seq -> its kMessageAdd in batch_
  bool commit_running_ = false;
  bool commit_armed_ = false;
  std::chrono::milliseconds flush_interval_{0};
  asio::steady_timer commit_timer_{io_};
  std::vector<std::function<void()>> persist_waiters_;
  BrokerCore::RestoreStats restored_;
  struct {
    uint64_t commits = 0;
    uint64_t ops = 0;
    uint64_t coalesced = 0;
    uint64_t failures = 0;
  } pstats_;
};

void NetConn::send(Frame&& f) {
  if (closed_ || closing_) return;
  if (owner_ != nullptr && pending_bytes_ + f.size() > 2 * owner_->options_.max_write_buffer_bytes +
                                                           owner_->options_.max_payload_bytes) {
    // A peer that does not read (QoS0 is already dropped at max_write_buffer_bytes; this is
    // acks and control packets piling up): drop the connection instead of buffering forever.
    closing_ = true;
    auto self = shared_from_this();
    // Told to the core from a fresh turn (send() runs inside the core), even when the socket
    // was closed meanwhile (a queue that drained after all): the core must forget the client.
    asio::post(owner_->io_, [self] {
      if (self->owner_ == nullptr) return;
      if (self->in_core_) self->owner_->core_.onClosed(self->id_, "write buffer overflow");
      self->shutdownNow();
    });
    return;
  }
  pending_bytes_ += f.size();
  pending_.push_back(std::move(f));
  if (!dirty_ && owner_ != nullptr) {
    dirty_ = true;
    owner_->markDirty(shared_from_this());
  }
}

// One client socket, a plain non-blocking descriptor in the broker's ConnPoller (conn_poller.h:
// no Asio socket, descriptor state or pending operation per device). Plain: bytes go straight to
// the core. TLS (kTls): through a TlsEngine of our own (tls_engine.h) instead of Asio's
// ssl::stream, so an idle TLS device costs OpenSSL's session state, not ~68 KB of fixed staging
// buffers.
template <bool kTls>
class StreamConn final : public NetConn {
 public:
  StreamConn(Broker::Impl* owner, ConnId id, int fd) requires(!kTls)
      : NetConn(owner, id), fd_(fd) {}
  StreamConn(Broker::Impl* owner, ConnId id, int fd, TlsEngine tls) requires(kTls)
      : NetConn(owner, id), fd_(fd), tls_(std::move(tls)) {}
  ~StreamConn() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void start() override {
    if constexpr (kTls) {
      auto weak = weak_from_this();
      timer().expires_after(owner_->options_.connect_timeout);
      timer().async_wait([weak](error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->shutdownNow();
      });
      watch();  // the handshake advances as the ClientHello and the rest arrive
    } else {
      if (enterCore()) watch();
    }
  }

  void closeAfterFlush() override {
    if (closed_ || closing_) return;
    closing_ = true;
    if (owner_ == nullptr || (!writing_ && pending_.empty() && !tlsOutput())) {
      shutdownNow();
      return;
    }
    if (!writing_ && !dirty_) {
      dirty_ = true;
      owner_->markDirty(shared_from_this());
    }
    auto weak = weak_from_this();
    timer().expires_after(owner_->options_.close_flush_timeout);
    timer().async_wait([weak](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->shutdownNow();
    });
  }

  void shutdownNow() override {
    if (closed_) return;
    auto keep = shared_from_this();
    closed_ = true;
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_RDWR);
      ::close(fd_);  // leaves the poller's set with it
      fd_ = -1;
    }
    if (timer_) timer_->timer.cancel();
    if (owner_ != nullptr) owner_->forget(id_);
  }

  // From the poller: the socket has something to read (or hit EOF/an error), or room to write
  // again after a write that hit EAGAIN.
  void onEvents(uint32_t events) override {
    if (closed_ || owner_ == nullptr) return;
    auto keep = shared_from_this();
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0 && writing_) resumeWrite();
    if (closed_ || closing_ || owner_ == nullptr) return;  // closing: the core is done with it
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0) readReady();
  }

 private:
  bool tlsOutput() const {
    if constexpr (kTls) return tls_.hasOutput();
    return false;
  }

  // TLS: OpenSSL's verify callback for each certificate of the device's chain, during
  // handshake(); the thing name of an accepted device certificate is kept with the handshake's
  // timer (timed()), until enterCore() gives it to the core.
  bool verifyPeer(bool preverified, X509_STORE_CTX* sc) {
    if (owner_ == nullptr) return false;
    if (!preverified) {
      // A certificate from another CA (AWS IoT's, or the customer's CA registered with AWS
      // IoT) is accepted when its SHA-256 is a device's of the active group: pinning. Only
      // "unknown issuer" errors are forgiven; expiry and every other check still refuse.
      if (!certs::isUnknownIssuerError(X509_STORE_CTX_get_error(sc))) return false;
      auto fp = fingerprint(X509_STORE_CTX_get0_cert(sc));
      if (!fp) return false;
      auto identity = owner_->hooks_.identityForCertificate(*fp);
      if (!identity) return false;
      timed().identity = std::move(*identity);
      return true;
    }
    if (X509_STORE_CTX_get_error_depth(sc) != 0) return true;  // CA chain: trust verify
    auto fp = fingerprint(X509_STORE_CTX_get_current_cert(sc));
    if (!fp) return false;
    auto identity = owner_->hooks_.identityForCertificate(*fp);
    if (!identity) {
      if (owner_->log_.enabled(LogLevel::kInfo)) {
        owner_->log_.info("TLS client " + peerOf(fd_) + ": unknown certificate " + *fp);
      }
      return false;
    }
    timed().identity = std::move(*identity);
    return true;
  }

  // Into the broker's poller; bytes that arrived before are reported at once.
  void watch() {
    Status st = owner_->poller_.add(fd_, id_);
    if (!st) lost(st.message());
  }

  // The core takes the connection (false: refused, and closed).
  bool enterCore(std::string identity = {}) {
    if (!owner_->core_.onAccept(id_, kTls, std::move(identity), peerOf(fd_))) {
      shutdownNow();
      return false;
    }
    in_core_ = true;
    return true;
  }

  // The peer went away (EOF / error): an abnormal close for the core unless it closed us first.
  void lost(const std::string& reason) {
    if (closed_) return;
    auto keep = shared_from_this();
    if (!closing_ && in_core_ && owner_ != nullptr) owner_->core_.onClosed(id_, reason);
    shutdownNow();
  }

  // Reads into the broker's one read buffer (an idle device holds none) until a short read: the
  // poller is edge-triggered, so a readable socket is read dry before the next event. At most
  // kReadsPerTurn reads; past that the rest is read in a later turn, after other connections
  // had theirs.
  void readReady() {
    char* buf = owner_->readScratch();
    const size_t cap = owner_->readScratchSize();
    for (unsigned i = 0; i < kReadsPerTurn; ++i) {
      const ssize_t n = ::recv(fd_, buf, cap, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        lost(error_code(errno, boost::system::system_category()).message());
        return;
      }
      if (n == 0) {
        lost("End of file");
        return;
      }
      const auto got = static_cast<size_t>(n);
      if constexpr (kTls) {
        if (!onCiphertext(buf, got)) return;
      } else {
        owner_->core_.onBytes(id_, std::string_view(buf, got));
      }
      if (closed_ || closing_ || owner_ == nullptr) return;
      if (got < cap) return;
    }
    auto self = std::static_pointer_cast<StreamConn>(shared_from_this());
    asio::post(owner_->io_, [self] {
      if (!self->closed_ && !self->closing_ && self->owner_ != nullptr) self->readReady();
    });
  }

  // TLS: n bytes of ciphertext. Advances the handshake (the core sees the connection once it is
  // done), then passes every decrypted byte to the core. False: stop reading. The engine consumes
  // all of `buf` (a partial record is kept by OpenSSL), so the shared buffer can be reused.
  bool onCiphertext(const char* buf, size_t n) {
    tls_.input(std::string_view(buf, n));
    if (!tls_.established()) {
      TlsEngine::State st = tls_.handshake(
          [this](bool preverified, X509_STORE_CTX* sc) { return verifyPeer(preverified, sc); });
      if (st == TlsEngine::State::kFailed) {
        if (owner_->log_.enabled(LogLevel::kDebug)) {
          owner_->log_.debug("TLS handshake with " + peerOf(fd_) + " failed: " + tls_.error());
        }
        closeAfterFlush();  // the alert OpenSSL produced goes out first
        return false;
      }
      if (tls_.hasOutput()) wantWrite();
      if (st != TlsEngine::State::kDone) return true;
      // Handshake done: the timeout's timer goes (its cancelled wait only holds a weak_ptr), and
      // the identity verification found goes to the core, which keeps it.
      std::string identity = timer_ ? std::move(timer_->identity) : std::string();
      timer_.reset();
      if (!enterCore(std::move(identity))) return false;
    }
    TlsEngine::State st =
        tls_.read(owner_->tlsScratch(), owner_->tlsScratchSize(), [this](std::string_view p) {
          owner_->core_.onBytes(id_, p);
          return !closed_ && !closing_ && owner_ != nullptr;
        });
    if (closed_ || owner_ == nullptr) return false;
    if (tls_.hasOutput()) wantWrite();
    if (st == TlsEngine::State::kClosed || st == TlsEngine::State::kFailed) {
      lost(tls_.error());
      return false;
    }
    return true;
  }

  // Output produced outside send() (TLS handshake, session tickets, alerts): flush it this turn.
  void wantWrite() {
    if (!writing_ && !dirty_ && owner_ != nullptr) {
      dirty_ = true;
      owner_->markDirty(shared_from_this());
    }
  }

  // Writes what is queued, one gathered sendmsg() per batch of up to kMaxFramesPerWrite frames,
  // until the queue is empty or the socket is full (EAGAIN: the poller's EPOLLOUT resumes it).
  void startWrite() override {
    for (;;) {
      if (writing_ || closed_ || owner_ == nullptr) return;
      if (pending_.empty() && !tlsOutput()) {
        // Everything written: an idle connection keeps no write-side storage (a busy one
        // re-allocates a few small blocks per burst, cheap next to the write itself).
        pending_.release();
        ws_.reset();
        if (closing_) shutdownNow();
        return;
      }
      if (!fillWrite()) return;
      writing_ = true;
      if (!writeSome()) return;
      finishWrite();
    }
  }

  void resumeWrite() {
    if (!writeSome()) return;
    finishWrite();
    startWrite();
  }

  // Moves queued frames into ws_ and points its iovecs at them (TLS: encrypts them into one
  // record and points at the ciphertext). False: the connection was lost.
  bool fillWrite() {
    if (!ws_) ws_ = std::make_unique<WriteState>();
    WriteState& w = *ws_;
    w.frames.clear();
    w.iov.clear();
    w.next = 0;
    w.bytes = 0;
    constexpr size_t kMaxFramesPerWrite = 256;  // <= 3 iovecs each: under IOV_MAX (1024)
    while (!pending_.empty() && w.frames.size() < kMaxFramesPerWrite) {
      w.frames.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    auto add = [&w](const std::string& b) {
      if (!b.empty()) w.iov.push_back(iovec{const_cast<char*>(b.data()), b.size()});
    };
    for (const Frame& f : w.frames) {
      w.bytes += f.size();
      if constexpr (kTls) {
        // One TLS record per write, not one per buffer.
        w.flat += f.owned;
        if (f.shared_head) w.flat += *f.shared_head;
        if (f.body) w.flat += *f.body;
      } else {
        add(f.owned);
        if (f.shared_head) add(*f.shared_head);
        if (f.body) add(*f.body);
      }
    }
    if constexpr (kTls) {
      if (!w.flat.empty()) {
        Status st = tls_.write(w.flat);
        w.flat.clear();
        if (!st) {
          pending_bytes_ -= w.bytes;
          w.bytes = 0;
          lost(st.message());
          return false;
        }
      }
      w.frames.clear();  // encrypted: the ciphertext is all that is written
      tls_.takeOutput(w.wire);
      add(w.wire);
    }
    return true;
  }

  // Sends what is left of ws_. True: all of it is written. False: the socket is full (resumed on
  // EPOLLOUT) or the connection was lost.
  bool writeSome() {
    WriteState& w = *ws_;
    while (w.next < w.iov.size()) {
      msghdr mh{};
      mh.msg_iov = &w.iov[w.next];
      mh.msg_iovlen = w.iov.size() - w.next;
      const ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        lost(error_code(errno, boost::system::system_category()).message());
        return false;
      }
      auto left = static_cast<size_t>(n);
      while (w.next < w.iov.size() && left >= w.iov[w.next].iov_len) {
        left -= w.iov[w.next].iov_len;
        ++w.next;
      }
      if (left > 0) {
        w.iov[w.next].iov_base = static_cast<char*>(w.iov[w.next].iov_base) + left;
        w.iov[w.next].iov_len -= left;
      }
    }
    return true;
  }

  void finishWrite() {
    WriteState& done = *ws_;
    writing_ = false;
    pending_bytes_ -= done.bytes;
    done.bytes = 0;
    done.frames.clear();
    done.iov.clear();
    if constexpr (kTls) done.wire.clear();
  }

  struct NoIdentity {};
  // The handshake timeout (TLS) or close-flush bound, and during a TLS handshake the device's
  // identity found by verifyPeer(): what only a connection being set up or closed needs.
  struct Timed {
    explicit Timed(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    [[no_unique_address]] std::conditional_t<kTls, std::string, NoIdentity> identity;
  };
  Timed& timed() {
    if (!timer_) timer_ = std::make_unique<Timed>(owner_->io_);
    return *timer_;
  }
  asio::steady_timer& timer() { return timed().timer; }

  // Reads from one readiness before yielding to other connections.
  static constexpr unsigned kReadsPerTurn = 4;

  // What one write in flight needs; allocated when writing starts, freed when all is written.
  struct WriteState {
    std::vector<Frame> frames;
    std::vector<iovec> iov;
    size_t next = 0;   // first iovec not completely written
    std::string flat;  // TLS: the plaintext of one write
    std::string wire;  // TLS: the ciphertext being written
    size_t bytes = 0;
  };
  struct NoTls {};

  int fd_;
  [[no_unique_address]] std::conditional_t<kTls, TlsEngine, NoTls> tls_;
  // Created on first use; a TLS connection's goes when its handshake is done.
  std::unique_ptr<Timed> timer_;
  std::unique_ptr<WriteState> ws_;
  bool writing_ = false;  // ws_ holds a write not yet completely sent
};

// ---- Impl ----

static Result<std::unique_ptr<asio::ssl::context>> makeServerContext(const TlsFiles& files) {
  error_code ec;
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->load_verify_file(files.ca_file, ec);
  if (ec) return Status::invalid("cannot load CA file " + files.ca_file + ": " + ec.message());
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec)
    return Status::invalid("cannot load certificate " + files.cert_file + ": " + ec.message());
  ctx->use_private_key_file(files.key_file, asio::ssl::context::pem, ec);
  if (ec) return Status::invalid("cannot load key " + files.key_file + ": " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return Status::internal("set_verify_mode: " + ec.message());
  return ctx;
}

Status Broker::Impl::reloadTls(const TlsFiles& files) {
  if (!ssl_ctx_) return Status::conflict("no TLS listener");
  auto ctx = makeServerContext(files);
  if (!ctx) return ctx.status();
  // Connections made with the old context keep it (their SSL objects hold the SSL_CTX); it is
  // kept here too, so nothing it owns is released under them. Renewals are rare.
  retired_ssl_ctx_.push_back(std::move(ssl_ctx_));
  ssl_ctx_ = std::move(*ctx);
  return Status::ok();
}

Status Broker::Impl::listen(bool tls, const std::string& address, uint16_t port,
                            const TlsFiles* files) {
  std::optional<tcp::acceptor>& acc = tls ? tls_acc_ : tcp_acc_;
  const char* kind = tls ? "TLS" : "TCP";
  if (stopping_) return Status::conflict("broker is stopping");
  if (acc) return Status::conflict(std::string(kind) + " listener already open");
  error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return Status::invalid("bad listen address '" + address + "': " + ec.message());
  if (tls) {
    auto ctx = makeServerContext(*files);
    if (!ctx) return ctx.status();
    ssl_ctx_ = std::move(*ctx);
  }
  tcp::endpoint ep(addr, port);
  const std::string where = address + ":" + std::to_string(port);
  acc.emplace(io_);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acc.reset();
    return Status::io(std::string(kind) + " listen on " + where + " failed: " + ec.message());
  }
  if (Status st = openPoller(); !st) {
    acc.reset();
    return st;
  }
  if (log_.enabled(LogLevel::kInfo)) {
    log_.info(std::string(kind) + " listening on " + address + ":" +
              std::to_string(acc->local_endpoint().port()));
  }
  doAccept(*acc, tls);
  startTick();
  return Status::ok();
}

void Broker::Impl::doAccept(tcp::acceptor& acc, bool tls) {
  std::weak_ptr<bool> alive = alive_;
  acc.async_accept(io_, [this, alive, &acc, tls](error_code ec, Socket sock) {
    if (alive.expired() || ec == asio::error::operation_aborted || stopping_) return;
    if (ec) {
      acceptFailed(acc, tls, ec);
      return;
    }
    error_code ignore;
    sock.set_option(tcp::no_delay(true), ignore);
    if (conns_.size() >= options_.max_connections + options_.max_pending_connects) {
      sock.close(ignore);  // the core would refuse it too; don't even start a handshake
    } else {
      // The descriptor leaves Asio (its reactor entry is freed) for the broker's own set.
      error_code nb, rel;
      sock.non_blocking(true, nb);
      const int fd = nb ? -1 : sock.release(rel);
      if (fd < 0) {
        sock.close(ignore);
      } else {
        const ConnId id = next_id_++;
        std::shared_ptr<NetConn> c;
        if (tls) {
          auto engine = TlsEngine::create(ssl_ctx_->native_handle(), tls_bio_, /*server=*/true);
          if (engine) {
            c = std::make_shared<StreamConn<true>>(this, id, fd, std::move(engine).value());
          } else {
            if (log_.enabled(LogLevel::kWarn)) {
              log_.warn("TLS client " + peerOf(fd) + " refused: " + engine.status().message());
            }
            ::close(fd);
          }
        } else {
          c = std::make_shared<StreamConn<false>>(this, id, fd);
        }
        if (c) {
          conns_.emplace(id, c);
          c->start();
        }
      }
    }
    doAccept(acc, tls);
  });
}

// Out of descriptors (EMFILE/ENFILE) or memory: the connection stays in the listen backlog and
// the acceptor stays readable, so accepting again at once would spin the loop and flood the log.
// Retry after accept_retry_delay; warn once per kAcceptWarnEvery with the count meanwhile.
void Broker::Impl::acceptFailed(tcp::acceptor& acc, bool tls, const error_code& ec) {
  ++accept_failures_;
  const auto now = std::chrono::steady_clock::now();
  if (log_.enabled(LogLevel::kWarn) &&
      (accept_warned_at_ == std::chrono::steady_clock::time_point{} ||
       now - accept_warned_at_ >= kAcceptWarnEvery)) {
    std::string what = std::string(tls ? "TLS" : "TCP") + " accept failed: " + ec.message() + " (" +
                       std::to_string(conns_.size()) + " sockets open";
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
      struct rlimit rl {};
      if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        what += ", open-file limit " + std::to_string(rl.rlim_cur);
      }
    }
    what += ", " + std::to_string(accept_failures_) + " failures so far); retrying every " +
            std::to_string(options_.accept_retry_delay.count()) + " ms";
    log_.warn(what);
    accept_warned_at_ = now;
  }
  asio::steady_timer& retry = tls ? tls_accept_retry_ : tcp_accept_retry_;
  retry.expires_after(options_.accept_retry_delay);
  std::weak_ptr<bool> alive = alive_;
  retry.async_wait([this, alive, &acc, tls](error_code e) {
    if (alive.expired() || e || stopping_ || !acc.is_open()) return;
    doAccept(acc, tls);
  });
}

void Broker::Impl::startTick() {
  if (ticking_) return;
  ticking_ = true;
  tick_timer_.expires_after(options_.tick_interval);
  std::weak_ptr<bool> alive = alive_;
  tick_timer_.async_wait([this, alive](error_code ec) {
    if (alive.expired()) return;
    ticking_ = false;
    if (ec || stopping_) return;
    core_.tick();
    startTick();
  });
}

// ---- Broker ----

Broker::Broker(asio::io_context& io, BrokerOptions options, BrokerHooks& hooks, Log log)
    : impl_(std::make_unique<Impl>(io, options, hooks, std::move(log))) {}

Broker::~Broker() = default;

Status Broker::listenTcp(const std::string& address, uint16_t port) {
  return impl_->listen(false, address, port, nullptr);
}
Status Broker::listenTls(const std::string& address, uint16_t port, const TlsFiles& files) {
  return impl_->listen(true, address, port, &files);
}
Status Broker::reloadTls(const TlsFiles& files) { return impl_->reloadTls(files); }
uint16_t Broker::tcpPort() const {
  error_code ec;
  return impl_->tcp_acc_ ? impl_->tcp_acc_->local_endpoint(ec).port() : 0;
}
uint16_t Broker::tlsPort() const {
  error_code ec;
  return impl_->tls_acc_ ? impl_->tls_acc_->local_endpoint(ec).port() : 0;
}
void Broker::publish(const Message& msg, std::string_view source_identity) {
  impl_->core_.publish(msg, source_identity);
}
void Broker::publish(Message&& msg, std::string_view source_identity) {
  impl_->core_.publish(std::move(msg), source_identity);
}
void Broker::retain(const Message& msg, std::string_view source_identity) {
  impl_->core_.retain(msg, source_identity);
}
void Broker::deliverToIdentity(std::string_view identity, const Message& msg) {
  impl_->core_.deliverToIdentity(identity, msg);
}
void Broker::disconnectIf(std::function<bool(const ClientInfo&)> pred, std::string_view reason) {
  impl_->core_.disconnectIf(pred, reason);
}
void Broker::stop(std::function<void()> done) { impl_->stop(std::move(done)); }
Status Broker::enablePersistence(const std::string& path,
                                 std::chrono::milliseconds flush_interval) {
  return impl_->enablePersistence(path, flush_interval);
}

Broker::Stats Broker::stats() const {
  Stats s = impl_->core_.stats();
  s.persistence = impl_->store_ != nullptr;
  s.persist_commits = impl_->pstats_.commits;
  s.persist_ops = impl_->pstats_.ops;
  s.persist_coalesced = impl_->pstats_.coalesced;
  s.persist_failures = impl_->pstats_.failures;
  s.restored_sessions = impl_->restored_.sessions;
  s.restored_messages = impl_->restored_.messages;
  s.restored_retained = impl_->restored_.retained;
  s.coalesced_batches = impl_->poller_.coalescedBatches();
  return s;
}

}  // namespace evg::broker
