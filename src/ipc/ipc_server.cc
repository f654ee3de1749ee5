#include "ipc/ipc_server.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <unordered_map>

#include "ipc/http_reader.h"
#include "ipc/peer_identity.h"

namespace evg::ipc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
class Session;
}

struct IpcServer::Impl {
  Impl(asio::io_context& io_, IpcCore& c, IpcServerOptions o, Log l)
      : io(io_),
        core(&c),
        opts(std::move(o)),
        log(std::move(l)),
        acceptor(io_),
        accept_retry(io_) {}
  void accept();
  void onAccepted(tcp::socket socket);
  void deliver(ParkId park, HttpResponse r);
  // Closes the best eviction candidate (of `peer` when not empty); false when none is idle.
  bool evict(const std::string& peer);
  std::string peerKey(const tcp::socket& s) const;
  void warnRateLimited(const std::string& what);

  asio::io_context& io;
  IpcCore* core;  // null after stop()
  IpcServerOptions opts;
  Log log;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  uint16_t port = 0;
  ParkId next_park = 1;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<std::string, size_t> per_peer;
  std::unordered_map<ParkId, std::weak_ptr<Session>> parked;
  std::weak_ptr<Impl> shared_from_impl;
  IpcServerStats stats;
  Clock::time_point last_warning{};
  uint64_t suppressed_warnings = 0;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  enum class Phase {
    kIdle,     // keep-alive, no byte of the next request yet (idle timeout)
    kReading,  // a request is arriving (header timeout, then body timeout)
    kBusy,     // the core has the request (parked long poll: no timeout)
    kWriting,  // response being written (body timeout)
  };

  Session(std::shared_ptr<IpcServer::Impl> server, tcp::socket socket, std::string peer)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(server_->io),
        reader_(HttpReaderLimits{server_->opts.max_header_bytes, server_->opts.max_body_bytes}),
        peer_(std::move(peer)) {}

  void start() {
    server_->sessions[this] = weak_from_this();
    ++server_->per_peer[peer_];
    registered_ = true;
    // The first request's header must be complete header_timeout after the accept.
    setPhase(Phase::kReading);
    arm(server_->opts.header_timeout_ms, Timeout::kHeader);
    readSome();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    cancelPark();
    release();
    beast::error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // The core answered our parked request. The read that watched the connection while it was
  // parked stays outstanding: it is the next request's read.
  void deliverParked(HttpResponse r) {
    park_ = 0;
    writeResponse(std::move(r), /*from_core=*/true);
  }

  // Eviction candidate: no request in progress (idle keep-alive, or a header still incomplete).
  bool evictable() const {
    if (closed_) return false;
    if (phase_ == Phase::kIdle) return true;
    if (phase_ != Phase::kReading) return false;
    auto s = reader_.state();
    return s == HttpRequestReader::State::kEmpty || s == HttpRequestReader::State::kHeader;
  }
  Clock::time_point since() const { return since_; }
  const std::string& peer() const { return peer_; }

  ~Session() {
    cancelPark();
    release();
  }

 private:
  enum class Timeout { kHeader, kIdle, kBody };

  void setPhase(Phase p) {
    phase_ = p;
    since_ = Clock::now();
  }

  void release() {
    if (!registered_) return;
    registered_ = false;
    server_->sessions.erase(this);
    auto it = server_->per_peer.find(peer_);
    if (it != server_->per_peer.end() && --it->second == 0) server_->per_peer.erase(it);
  }

  void cancelPark() {
    if (park_ == 0) return;
    ParkId p = park_;
    park_ = 0;
    server_->parked.erase(p);
    if (server_->core != nullptr) server_->core->cancel(p);
  }

  void arm(uint32_t ms, Timeout kind) {
    ++timer_gen_;
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([weak = weak_from_this(), gen = timer_gen_, kind](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_ || gen != self->timer_gen_) return;
      self->onTimeout(kind);
    });
  }

  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void onTimeout(Timeout kind) {
    auto& st = server_->stats;
    switch (kind) {
      case Timeout::kHeader:
        ++st.header_timeouts;
        server_->log.debug("ipc: request header not complete within " +
                           std::to_string(server_->opts.header_timeout_ms) + " ms; closing");
        break;
      case Timeout::kIdle:
        ++st.idle_timeouts;
        break;
      case Timeout::kBody:
        ++st.body_timeouts;
        server_->log.debug("ipc: request body or response not transferred within " +
                           std::to_string(server_->opts.body_timeout_ms) + " ms; closing");
        break;
    }
    close();
  }

  // At most one read is outstanding, and it stays outstanding while a request is parked: bytes
  // that arrive then are requests pipelined behind it (buffered by the reader, up to
  // kMaxBufferedWhileBusy, then left in the socket), and an EOF or a reset means the client is
  // gone (the park is cancelled: its work must not go to a dead worker). The same read then
  // serves the next request, so answering a parked request costs no cancellation and no new
  // read.
  void readSome() {
    if (reading_) return;
    if (peer_eof_) return close();  // everything before the EOF was handled
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(rbuf_), [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->reading_ = false;
          if (self->closed_) return;
          const bool busy = self->phase_ == Phase::kBusy || self->phase_ == Phase::kWriting;
          if (ec) {
            if (busy && self->park_ == 0 &&
                (ec == asio::error::eof || ec == asio::error::connection_reset)) {
              // An answer is being written: it (or, after a reset, the requests the client
              // pipelined before it went) is finished first; the connection closes when the
              // next read would start.
              self->peer_eof_ = true;
              return;
            }
            if (ec != asio::error::eof && ec != asio::error::connection_reset &&
                ec != asio::error::operation_aborted) {
              self->server_->log.debug("ipc read: " + ec.message());
            }
            return self->close();
          }
          auto before = self->reader_.state();
          auto after = self->reader_.feed(std::string_view(self->rbuf_.data(), n));
          if (busy) {
            // Behind the request in progress: parsed once its answer is written.
            if (self->reader_.buffered() < kMaxBufferedWhileBusy) self->readSome();
            return;
          }
          self->advance(before, after);
        });
  }

  // Reacts to the reader's progress: new timers, dispatch, error answer, or more reading.
  void advance(HttpRequestReader::State before, HttpRequestReader::State after) {
    using S = HttpRequestReader::State;
    if (server_->core == nullptr) return close();
    switch (after) {
      case S::kEmpty:
        return readSome();
      case S::kHeader:
        if (phase_ == Phase::kIdle) {  // first byte of a keep-alive request
          setPhase(Phase::kReading);
          arm(server_->opts.header_timeout_ms, Timeout::kHeader);
        }
        return readSome();
      case S::kBody:
        if (phase_ == Phase::kIdle) setPhase(Phase::kReading);
        if (before != S::kBody) arm(server_->opts.body_timeout_ms, Timeout::kBody);
        return readSome();
      case S::kDone:
        return dispatch();
      case S::kFailed:
        ++server_->stats.bad_requests;
        keep_alive_ = false;
        return writeResponse(reader_.failure());
    }
  }

  void dispatch() {
    disarm();
    setPhase(Phase::kBusy);
    keep_alive_ = reader_.keepAlive();
    HttpRequest req = reader_.take();
    // The peer can no longer read answers: what it wrote before it went (a worker killed
    // right after pipelining publishes) is still handled, but a request that waits for its
    // answer (a long poll, a result fetch) ends the connection.
    if (peer_gone_ && req.method == "GET") return close();
    // Register the park before handling: the core may answer it re-entrantly (a listener
    // callback stopping this very worker) before handle() returns.
    ParkId park = server_->next_park++;
    park_ = park;
    server_->parked[park] = weak_from_this();
    auto answer = server_->core->handle(req, park);
    if (answer) {
      server_->parked.erase(park);
      park_ = 0;
      return writeResponse(std::move(*answer));
    }
    // Parked: the read watches for the client leaving (see readSome()).
    if (park_ == park) readSome();  // else: already answered during handle()
  }

  // HTTP/1.1 response: status line, Server, the core's headers, Content-Length, and Connection:
  // close when the connection ends after it. Formatted into one reused string (Beast's
  // serializer cost ~30k instructions and ~20 allocations per answer on the function path) and
  // written with the body as a second buffer.
  // from_core: called by the core while it handles another request (a parked request answered):
  // what follows the answer (a pipelined request of this connection) must not run inside that
  // call, so it continues from the loop.
  void writeResponse(HttpResponse r, bool from_core = false) {
    if (closed_) return;
    if (peer_gone_) return keep_alive_ ? nextRequest() : close();
    setPhase(Phase::kWriting);
    arm(server_->opts.body_timeout_ms, Timeout::kBody);
    std::string& h = whead_;
    h.clear();
    h += "HTTP/1.1 ";
    h += std::to_string(r.status);
    h += ' ';
    const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(r.status)));
    h.append(reason.data(), reason.size());
    h += "\r\nServer: evergreen\r\n";
    for (const auto& [k, v] : r.headers) {
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    h += "Content-Length: ";
    h += std::to_string(r.body.size());
    h += keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    wbody_ = std::move(r.body);
    std::array<asio::const_buffer, 2> bufs{asio::buffer(whead_), asio::buffer(wbody_)};
    // Inline first: an answer almost always fits the socket buffer, and finishing it here
    // saves the posted completion (a loop turn and an epoll_wait) per request.
    const size_t total = whead_.size() + wbody_.size();
    beast::error_code ec;
    const size_t n = socket_.write_some(bufs, ec);
    if (ec != asio::error::would_block && ec != asio::error::try_again && (ec || n == total)) {
      // From the core with nothing pipelined behind: going idle does not re-enter it.
      if (!from_core || (!ec && keep_alive_ && reader_.buffered() == 0)) return written(ec);
      return asio::post(socket_.get_executor(), [self = shared_from_this(), ec] {
        if (!self->closed_) self->written(ec);
      });
    }
    const size_t done = ec ? 0 : n;
    std::array<asio::const_buffer, 2> rest{asio::buffer(whead_), asio::buffer(wbody_)};
    asio::buffer_sequence_begin(rest)[0] += std::min(done, whead_.size());
    asio::buffer_sequence_begin(rest)[1] += done > whead_.size() ? done - whead_.size() : 0;
    asio::async_write(socket_, rest, [self = shared_from_this()](beast::error_code e, size_t) {
      if (self->closed_) return;
      self->written(e);
    });
  }

  // The answer is out (or could not be written).
  void written(beast::error_code ec) {
    wbody_ = std::string();
    if (ec && keep_alive_) {
      // The peer reset the connection: requests it pipelined before that still count.
      peer_gone_ = true;
      return nextRequest();
    }
    if (ec || !keep_alive_) return close();
    nextRequest();
  }

  void nextRequest() {
    auto after = reader_.next();
    if (after == HttpRequestReader::State::kEmpty) {
      setPhase(Phase::kIdle);
      arm(server_->opts.idle_timeout_ms, Timeout::kIdle);
      return readSome();
    }
    // Pipelined bytes already buffered.
    setPhase(Phase::kReading);
    arm(server_->opts.header_timeout_ms, Timeout::kHeader);
    advance(HttpRequestReader::State::kEmpty, after);
  }

  std::shared_ptr<IpcServer::Impl> server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  HttpRequestReader reader_;
  std::array<char, 16 * 1024> rbuf_;
  std::string whead_;  // the response head being written (reused)
  std::string wbody_;  // the response body being written
  std::string peer_;
  Phase phase_ = Phase::kReading;
  Clock::time_point since_ = Clock::now();
  bool reading_ = false;   // an async_read_some is outstanding (at most one)
  bool peer_eof_ = false;  // the client half-closed or reset while an answer was being written
  // Pipelined bytes read while a request is in progress; past this they wait in the socket.
  static constexpr size_t kMaxBufferedWhileBusy = 64 * 1024;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool peer_gone_ = false;  // an answer could not be written (the peer reset the connection)
  bool registered_ = false;
  ParkId park_ = 0;
};

}  // namespace

std::string IpcServer::Impl::peerKey(const tcp::socket& s) const {
  beast::error_code ec1, ec2;
  auto remote = s.remote_endpoint(ec1);
  auto local = s.local_endpoint(ec2);
  if (ec1 || ec2) return "?";
  if (remote.address().is_loopback()) {
    if (auto uid = tcpPeerUid(local, remote)) return "uid " + std::to_string(*uid);
  }
  return "address " + remote.address().to_string();
}

bool IpcServer::Impl::evict(const std::string& peer) {
  std::shared_ptr<Session> best;
  size_t best_count = 0;
  for (auto& [_, w] : sessions) {
    auto s = w.lock();
    if (!s || !s->evictable()) continue;
    if (!peer.empty() && s->peer() != peer) continue;
    size_t count = per_peer.count(s->peer()) != 0 ? per_peer.at(s->peer()) : 0;
    if (!best || count > best_count || (count == best_count && s->since() < best->since())) {
      best = s;
      best_count = count;
    }
  }
  if (!best) return false;
  ++stats.evicted;
  best->close();
  return true;
}

void IpcServer::Impl::warnRateLimited(const std::string& what) {
  auto now = Clock::now();
  if (now - last_warning < std::chrono::seconds(10)) {
    ++suppressed_warnings;
    return;
  }
  std::string extra = suppressed_warnings == 0
                          ? ""
                          : " (" + std::to_string(suppressed_warnings) + " similar suppressed)";
  suppressed_warnings = 0;
  last_warning = now;
  log.warn(what + extra);
}

void IpcServer::Impl::onAccepted(tcp::socket socket) {
  beast::error_code ignored;
  std::string peer = peerKey(socket);
  auto it = per_peer.find(peer);
  if (it != per_peer.end() && it->second >= opts.max_connections_per_peer && !evict(peer)) {
    ++stats.refused;
    warnRateLimited("ipc connection refused: " + peer + " holds its share of " +
                    std::to_string(opts.max_connections_per_peer) +
                    " connections (maxConnectionsPerPeer), all busy");
    socket.close(ignored);
    return;
  }
  if (sessions.size() >= opts.max_connections && !evict("")) {
    ++stats.refused;
    warnRateLimited("ipc connection refused: max_connections (" +
                    std::to_string(opts.max_connections) + ") reached, all busy");
    socket.close(ignored);
    return;
  }
  ++stats.accepted;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);  // answers are written inline first (writeResponse)
  // Sessions keep the Impl alive through their shared_ptr.
  auto self = std::shared_ptr<Impl>(shared_from_impl.lock());
  auto s = std::make_shared<Session>(self, std::move(socket), std::move(peer));
  s->start();
}

void IpcServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      onAccepted(std::move(socket));
      return accept();
    }
    // Out of descriptors/memory: free an idle connection, and do not spin on the error.
    warnRateLimited("ipc accept: " + ec.message());
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
        ec == asio::error::no_memory || ec.value() == ENFILE) {
      evict("");
    }
    accept_retry.expires_after(std::chrono::milliseconds(10));
    accept_retry.async_wait([this](beast::error_code e) {
      if (!e && acceptor.is_open()) accept();
    });
  });
}

void IpcServer::Impl::deliver(ParkId park, HttpResponse r) {
  auto it = parked.find(park);
  if (it == parked.end()) return;
  auto s = it->second.lock();
  parked.erase(it);
  if (s) s->deliverParked(std::move(r));
}

IpcServer::IpcServer(asio::io_context& io, IpcCore& core, IpcServerOptions opts, Log log)
    : impl_(std::make_shared<Impl>(io, core, std::move(opts), std::move(log))) {
  impl_->shared_from_impl = impl_;
  std::weak_ptr<Impl> weak = impl_;
  core.setResponder([weak](ParkId park, HttpResponse r) {
    if (auto impl = weak.lock()) impl->deliver(park, std::move(r));
  });
}

IpcServer::~IpcServer() { stop(); }

Status IpcServer::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl_->opts.address, ec);
  if (ec) return Status::invalid("bad IPC listen address \"" + impl_->opts.address + "\"");
  tcp::endpoint ep(addr, impl_->opts.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    a.close(ignored);
    return Status::io("IPC server cannot listen on " + impl_->opts.address + ":" +
                      std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  impl_->port = a.local_endpoint().port();
  impl_->log.info("IPC server listening on " + impl_->opts.address + ":" +
                  std::to_string(impl_->port));
  impl_->accept();
  return Status::ok();
}

uint16_t IpcServer::port() const { return impl_->port; }

size_t IpcServer::connectionCount() const { return impl_->sessions.size(); }

IpcServerStats IpcServer::stats() const { return impl_->stats; }

void IpcServer::stop() {
  if (!impl_) return;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  impl_->accept_retry.cancel();
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [_, w] : impl_->sessions) {
    if (auto s = w.lock()) live.push_back(s);
  }
  for (auto& s : live) s->close();
  impl_->parked.clear();
  impl_->core = nullptr;
}

}  // namespace evg::ipc
