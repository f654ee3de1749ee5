#pragma once
// AcceptBackoff: what a listener does when accept() fails (out of descriptors: EMFILE/ENFILE, or
// out of memory). The connection stays in the listen backlog and the listener stays readable, so
// accepting again at once would spin the loop and flood the log; instead the next accept() runs
// after a delay, and only the first failure of a streak is logged.
//
//   acceptor.async_accept([this](error_code ec, socket s) {
//     if (ec == operation_aborted) return;
//     if (ec) return backoff_.failed(ec, log_, "metrics: accept failed", [this] { accept(); });
//     backoff_.succeeded();  ...
//
// (The broker has its own variant that also reports the open-file limit and a failure count.)

#include <chrono>
#include <string>
#include <utility>

#include "base/asio.h"
#include "base/log.h"

namespace evg {

class AcceptBackoff {
 public:
  explicit AcceptBackoff(boost::asio::io_context& io,
                         std::chrono::milliseconds delay = std::chrono::milliseconds(100))
      : timer_(io), delay_(delay) {}

  // accept() failed with `ec`: warns "<what>: <reason>; retrying every N ms" on the first
  // failure of a streak, then calls retry() after the delay (not if cancel()led meanwhile).
  template <class F>
  void failed(const boost::system::error_code& ec, const Log& log, const std::string& what,
              F&& retry) {
    if (!failing_) {
      log.warn(what + ": " + ec.message() + "; retrying every " + std::to_string(delay_.count()) +
               " ms");
    }
    failing_ = true;
    timer_.expires_after(delay_);
    timer_.async_wait([retry = std::forward<F>(retry)](const boost::system::error_code& e) mutable {
      if (!e) retry();
    });
  }
  void succeeded() { failing_ = false; }
  void cancel() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds delay_;
  bool failing_ = false;
};

}  // namespace evg
