#pragma once
// Control channel between `evergreen <command>` and a running core: newline-delimited JSON over a
// Unix stream socket at DIR/var/run/evergreen.sock (mode 0600, so only the core's user can deploy).
//
//   request : {"op":"deploy","group":{...}} | {"op":"status"} | {"op":"reload"}
//             | {"op":"rollback"[,"id":N]} | {"op":"reset"}
//   response: {"ok":true,"result":{...}} | {"ok":false,"error":"<message naming the problem>"}
//
// ControlServer runs on the core's io_context; the handler is called on the loop thread and answers
// through a callback (so a deploy can complete asynchronously). ControlClient is blocking (CLI
// side).

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/accept_backoff.h"
#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"

namespace evg::daemon {

inline constexpr size_t kMaxControlRequestBytes = 64 * 1024 * 1024;

class ControlServer {
 public:
  using Reply = std::function<void(nlohmann::json response)>;
  using Handler = std::function<void(const nlohmann::json& request, Reply reply)>;

  ControlServer(boost::asio::io_context& io, std::string socket_path, Handler handler, Log log);
  ~ControlServer();
  // Binds the socket (removing a stale one left by a crashed core; refuses if another core
  // answers).
  Status start();
  void stop();

 private:
  class Conn;
  void accept();
  boost::asio::io_context& io_;
  std::string path_;
  Handler handler_;
  Log log_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  AcceptBackoff accept_backoff_{io_};  // out of descriptors: retry later, do not spin
};

// Sends one request and waits for the response (timeout in ms). NotFound when no core listens.
Result<nlohmann::json> controlCall(const std::string& socket_path, const nlohmann::json& request,
                                   int timeout_ms);

}  // namespace evg::daemon
