#pragma once
// IpcServer: the thin Boost.Asio HTTP/1.1 front of IpcCore. It parses requests (bounded header
// and body sizes), hands them to the core, writes immediate answers, keeps parked long polls open
// until the core's Responder delivers their answer, and cancels a parked request when its client
// disconnects. Keep-alive is honoured; TCP_NODELAY is set on accepted sockets. Requests are framed
// by the sans-I/O HttpRequestReader (malformed -> 400 naming the problem). Header/body/idle
// timeouts, eviction at the cap and per-peer shares are described on IpcServerOptions and in
// README.md; a request in progress (a parked long poll) is never timed out.
//
// Threading: everything runs on the io_context passed in (one thread); the core is only touched
// from there.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "base/log.h"
#include "base/status.h"
#include "ipc/ipc_core.h"

namespace evg::ipc {

struct IpcServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8000;                     // 0: ephemeral (see port())
  size_t max_body_bytes = 6 * 1024 * 1024;  // request payload bound (-> 413)
  size_t max_header_bytes = 16 * 1024;      // (-> 431)
  // Connection cap. When it is reached, a new connection evicts the oldest connection that has no
  // request in progress (idle keep-alive or header still incomplete), preferring the peer with
  // the most connections; only when every connection is busy is the new one closed.
  size_t max_connections = 1024;
  // One peer's share: the owner uid of a loopback client socket, else its address. A peer at its
  // share recycles its own oldest idle connection, or is refused.
  size_t max_connections_per_peer = 512;
  // A request header must be complete this long after the connection was accepted (first
  // request) or after its first byte arrived (later requests); else the connection is closed.
  uint32_t header_timeout_ms = 10000;
  // A keep-alive connection with no request in progress is closed after this long. A request in
  // progress (a parked long poll: a worker waiting for work, a caller waiting for a result) is
  // never timed out here.
  uint32_t idle_timeout_ms = 120000;
  // Receiving a request body after its header, and writing one response, must each finish within
  // this (slow or stalled peers are closed).
  uint32_t body_timeout_ms = 30000;
};

struct IpcServerStats {
  uint64_t accepted = 0;
  uint64_t refused = 0;          // closed at accept: every slot busy or the peer's share busy
  uint64_t evicted = 0;          // idle/incomplete connections closed to admit a new one
  uint64_t header_timeouts = 0;  // header not complete in time
  uint64_t idle_timeouts = 0;
  uint64_t body_timeouts = 0;  // body or response write not finished in time
  uint64_t bad_requests = 0;   // 400/413/431 answered to a malformed or oversized request
};

class IpcServer {
 public:
  // Installs itself as `core`'s Responder. `core` must outlive the server or stop() must run first.
  IpcServer(boost::asio::io_context& io, IpcCore& core, IpcServerOptions opts, Log log);
  ~IpcServer();
  IpcServer(const IpcServer&) = delete;
  IpcServer& operator=(const IpcServer&) = delete;

  // Binds and starts accepting. Status::io naming the address when the bind fails.
  Status start();
  uint16_t port() const;
  // Stops accepting, closes every connection and cancels parked requests. Idempotent.
  void stop();
  size_t connectionCount() const;
  IpcServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace evg::ipc
