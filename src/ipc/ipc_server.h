#pragma once
// IpcServer: the thin Boost.Beast HTTP/1.1 front of IpcCore. It parses requests (bounded header
// and body sizes), hands them to the core, writes immediate answers, keeps parked long polls open
// until the core's Responder delivers their answer, and cancels a parked request when its client
// disconnects. Keep-alive is honoured; TCP_NODELAY is set on accepted sockets.
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
  size_t max_header_bytes = 16 * 1024;
  size_t max_connections = 1024;  // further connections are closed at accept
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

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace evg::ipc
