#include "streammgr/server.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

namespace evg::streammgr {

using boost::asio::ip::tcp;
using nlohmann::json;

struct StreamManager::Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  ConnId id = 0;
  std::array<char, 65536> buf{};
  std::deque<std::string> out;  // queued; out.front() is being written when writing
  size_t queued = 0;
  bool writing = false;
  bool close_after_write = false;
  bool closed = false;
};

StreamManager::StreamManager(boost::asio::io_context& io, StreamManagerOptions opts, Log log)
    : io_(io),
      opts_(std::move(opts)),
      log_(std::move(log)),
      acceptor_(io),
      deadline_timer_(io),
      sync_timer_(io),
      expiry_timer_(io) {
  StoreOptions so;
  so.root_dir = opts_.store_root;
  so.max_streams = opts_.max_streams;
  store_ = std::make_unique<StreamStore>(so, log_);
  Callbacks cb;
  cb.send = [this](ConnId c, std::string b) { send(c, std::move(b)); };
  cb.close = [this](ConnId c, const std::string& why) { closeConn(c, why); };
  cb.flush = [this](std::vector<int> fds, std::function<void()> done) {
    ++flushes_;
    boost::asio::post(
        pool_, [this, fds = std::move(fds), done = std::move(done), alive = alive_]() mutable {
          for (int fd : fds) {
            if (::fdatasync(fd) != 0) log_.error(std::string("fdatasync: ") + std::strerror(errno));
            ::close(fd);
          }
          boost::asio::post(io_, [done = std::move(done), alive] {
            if (*alive) done();
          });
        });
  };
  service_ = std::make_unique<Service>(*store_, opts_.service, std::move(cb), log_);
  store_->setAppendListener([this](const std::string& s) { service_->onAppended(s); });
}

StreamManager::~StreamManager() { stop(); }

void StreamManager::setExportHost(ExportHost* host) {
  host_ = host;
  store_->setExportHost(host);
  service_->setExportHost(host);
}

Status StreamManager::start() {
  EVG_RETURN_IF_ERROR(store_->open().withContext("stream store: "));
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(opts_.bind_address, ec);
  if (ec) return Status::invalid("stream manager bind address " + opts_.bind_address);
  tcp::endpoint ep(addr, opts_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::io("stream manager listener " + opts_.bind_address + ":" +
                      std::to_string(opts_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  armSync();
  armExpiry();
  return Status::ok();
}

void StreamManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  accept_backoff_.cancel();
  deadline_timer_.cancel();
  sync_timer_.cancel();
  expiry_timer_.cancel();
  for (auto& [id, c] : conns_) {
    c->closed = true;
    c->socket.close(ec);
  }
  conns_.clear();
  pool_.join();
  if (store_) store_->sync();
}

void StreamManager::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (stopped_ || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      return accept_backoff_.failed(ec, log_, "accept failed", [this, alive = alive_] {
        if (*alive && !stopped_) accept();
      });
    }
    accept_backoff_.succeeded();
    {
      if (conns_.size() >= opts_.max_connections) {
        ++refused_connections_;
        log_.warn("connection refused: streamManager.maxConnections = " +
                  std::to_string(opts_.max_connections) + " reached");
        boost::system::error_code ignored;
        s.close(ignored);
      } else {
        boost::system::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        auto c = std::make_shared<Connection>(std::move(s));
        c->id = next_id_++;
        conns_[c->id] = c;
        service_->opened(c->id);
        // Read loop.
        auto read = std::make_shared<std::function<void()>>();
        *read = [this, c, read]() {
          c->socket.async_read_some(
              boost::asio::buffer(c->buf), [this, c, read](boost::system::error_code e, size_t n) {
                if (c->closed) return;
                if (e) {
                  closeConn(c->id, e == boost::asio::error::eof ? "peer closed" : e.message());
                  return;
                }
                service_->data(c->id, std::string_view(c->buf.data(), n));
                armDeadline();
                if (!c->closed && !c->close_after_write) (*read)();
              });
        };
        (*read)();
      }
    }
    accept();
  });
}

void StreamManager::send(ConnId id, std::string bytes) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Connection& c = *it->second;
  if (c.closed) return;
  c.queued += bytes.size();
  if (c.queued > opts_.max_write_queue_bytes) {
    closeConn(id, "client does not read its answers (write queue over " +
                      std::to_string(opts_.max_write_queue_bytes) + " bytes)");
    return;
  }
  // Coalesce small frames into the tail buffer (one write for many answers).
  if (c.out.size() > (c.writing ? 1u : 0u) && c.out.back().size() < 65536) {
    c.out.back().append(bytes);
  } else {
    c.out.push_back(std::move(bytes));
  }
  flushWrites(c);
}

void StreamManager::flushWrites(Connection& c) {
  if (c.writing || c.out.empty()) return;
  c.writing = true;
  auto self = conns_.at(c.id);
  boost::asio::async_write(c.socket, boost::asio::buffer(c.out.front()),
                           [this, self](boost::system::error_code ec, size_t n) {
                             self->writing = false;
                             if (self->closed) return;
                             if (ec) {
                               closeConn(self->id, ec.message());
                               return;
                             }
                             self->queued -= n;
                             self->out.pop_front();
                             if (!self->out.empty()) {
                               flushWrites(*self);
                             } else if (self->close_after_write) {
                               closeConn(self->id, "");
                             }
                           });
}

void StreamManager::closeConn(ConnId id, const std::string& reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  auto c = it->second;
  if (!reason.empty() && (c->writing || !c->out.empty())) {
    // Let the answer (e.g. ConnectResponse Unauthorized) reach the client first.
    c->close_after_write = true;
    boost::asio::post(io_, [this, id] { service_->closed(id); });
    return;
  }
  c->closed = true;
  boost::system::error_code ec;
  c->socket.shutdown(tcp::socket::shutdown_both, ec);
  c->socket.close(ec);
  conns_.erase(it);
  // Deferred: the Service may be iterating its parked reads when a send fails.
  boost::asio::post(io_, [this, id] { service_->closed(id); });
}

void StreamManager::armDeadline() {
  auto d = service_->nextDeadline();
  if (!d) return;
  if (deadline_timer_.expiry() <= Clock::now() || *d < deadline_timer_.expiry() ||
      deadline_timer_.expiry() == Clock::time_point()) {
    deadline_timer_.expires_at(*d);
    deadline_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_) return;
      service_->tick(Clock::now());
      deadline_timer_.expires_at(Clock::time_point());
      armDeadline();
    });
  }
}

void StreamManager::armSync() {
  sync_timer_.expires_after(std::chrono::milliseconds(opts_.sync_interval_ms));
  sync_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    auto fds = store_->takeDirty();
    if (!fds.empty()) {
      ++syncs_;
      boost::asio::post(pool_, [fds = std::move(fds), log = log_] {
        for (int fd : fds) {
          if (::fdatasync(fd) != 0) log.error(std::string("fdatasync: ") + std::strerror(errno));
          ::close(fd);
        }
      });
    }
    armSync();
  });
}

void StreamManager::armExpiry() {
  expiry_timer_.expires_after(std::chrono::milliseconds(opts_.expiry_interval_ms));
  expiry_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    store_->expire();
    armExpiry();
  });
}

json StreamManager::status() const {
  json streams = json::array();
  for (const auto& st : store_->allStats()) {
    json s = {{"name", st.name}, {"messages", st.messages}, {"bytes", st.bytes}};
    s["oldestSequenceNumber"] = st.oldest ? json(*st.oldest) : json();
    s["newestSequenceNumber"] = st.newest ? json(*st.newest) : json();
    s["oldestIngestTime"] = st.oldest_ingest_ms ? json(*st.oldest_ingest_ms) : json();
    s["newestIngestTime"] = st.newest_ingest_ms ? json(*st.newest_ingest_ms) : json();
    auto def = store_->definition(st.name);
    if (def) {
      s["persistence"] = def->persistence == Persistence::kFile ? "File" : "Memory";
      s["maxSize"] = def->max_size;
    }
    json exports = json::array();
    if (host_ != nullptr) {
      for (const auto& e : host_->statuses(st.name)) {
        int64_t lag = st.newest ? *st.newest - e.lastExportedSequenceNumber : 0;
        exports.push_back({{"identifier", e.exportConfigIdentifier},
                           {"lastExportedSequenceNumber", e.lastExportedSequenceNumber},
                           {"lagMessages", std::max<int64_t>(0, lag)},
                           {"error", e.errorMessage}});
      }
    }
    s["exports"] = std::move(exports);
    s["errors"] = st.errors;
    streams.push_back(std::move(s));
  }
  return {{"enabled", true},
          {"port", port_},
          {"storeRoot", opts_.store_root},
          {"authenticateClient", opts_.service.authenticate},
          {"connections", conns_.size()},
          {"refusedConnections", refused_connections_},
          {"pendingReads", service_->pendingReads()},
          {"groupCommits", syncs_},
          {"flushOnWriteBatches", flushes_},
          {"streams", std::move(streams)}};
}

}  // namespace evg::streammgr
