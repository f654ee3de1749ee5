#pragma once
// ConnPoller: one epoll set of our own for every client socket of the broker, driven by the
// io_context through the one descriptor of that set.
//
// Why: registering each device's socket with Asio costs an epoll descriptor state (168 B), a
// socket object (48 B) and, while the device is idle, a pending wait operation (80 B) — ~300 B of
// the ~1.3 KB an idle device cost. Here a socket is an int and an epoll entry (kernel memory);
// the io_context still owns the loop: it waits on this set's descriptor, and drain() hands each
// ready socket's events to the handler on the loop thread, one at a time.
//
// Sockets are added edge-triggered for input and output (EPOLLIN | EPOLLOUT | EPOLLRDHUP |
// EPOLLET), once, and never modified: the owner reads a readable socket dry and writes until
// EAGAIN, and is told again only when something new happens (new bytes, or room to write after
// a write that hit EAGAIN). A socket leaves the set when it is closed. Each entry carries a
// 64-bit key of the owner's (the broker's connection id, never a pointer: a connection freed
// while a batch of events is handled is simply not found).
#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"

namespace evg::broker {

class ConnPoller {
 public:
  // events: the EPOLL* bits epoll reported for the socket with this key.
  using Handler = std::function<void(uint64_t key, uint32_t events)>;
  // Called after each batch of events handed to the Handler (e.g. to flush what they queued).
  using BatchDone = std::function<void()>;

  // max_events_per_turn: events taken from the set per loop turn before other handlers run.
  ConnPoller(boost::asio::io_context& io, size_t max_events_per_turn);
  ~ConnPoller();
  ConnPoller(const ConnPoller&) = delete;
  ConnPoller& operator=(const ConnPoller&) = delete;

  // Creates the set (once; later calls are no-ops) and starts waiting for events.
  Status open(Handler handler, BatchDone batch_done = nullptr);
  // Adds a non-blocking socket (Status::io naming errno on failure: the caller closes it).
  Status add(int fd, uint64_t key);
  // Stops waiting and closes the set (sockets still in it are the owner's to close).
  void close();
  bool isOpen() const { return desc_.has_value(); }

 private:
  void wait();
  void drain();

  boost::asio::io_context& io_;
  std::optional<boost::asio::posix::stream_descriptor> desc_;
  std::vector<epoll_event> events_;
  Handler handler_;
  BatchDone batch_done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace evg::broker
