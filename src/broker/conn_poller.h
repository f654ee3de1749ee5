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
//
// Input coalescing (Coalescing, off unless a delay is given): under sustained load a broker that
// takes every packet the moment it arrives spends most of its CPU on the wake-up, not on the
// packet (epoll, recv plus the ACK it sends, a sendmsg per batch: ~10 us of kernel time for a
// batch of one or two small PUBLISHes on loopback). When `busy_wakeups` wake-ups in a row each
// came less than `delay` after the previous batch ended, the next batch starts no sooner than
// `delay` after the previous one ended: the loop thread sleeps the rest of that time, and the
// batch then takes everything that arrived meanwhile, from every socket. The same trade as a
// NIC's interrupt moderation: at most `delay` more latency, only while input keeps arriving
// faster than one batch per `delay`; a wake-up after a quieter gap resets the count, so a lone
// message or a request/response exchange is never delayed. Output is not delayed: what a batch
// queued is written (BatchDone) before the next wake-up is waited for.
#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
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

  struct Coalescing {
    std::chrono::microseconds delay{0};  // 0: off
    unsigned busy_wakeups = 8;           // quick wake-ups in a row before batches are spaced
  };

  // max_events_per_turn: events taken from the set per loop turn before other handlers run.
  ConnPoller(boost::asio::io_context& io, size_t max_events_per_turn, Coalescing coalescing);
  ConnPoller(boost::asio::io_context& io, size_t max_events_per_turn);  // coalescing off
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
  // Batches that waited for more input (Coalescing) since the poller was made.
  uint64_t coalescedBatches() const { return coalesced_batches_; }

 private:
  using Clock = std::chrono::steady_clock;
  void wait();
  // woken: called from the set's wait (a new wake-up), not to take events left by a full turn.
  void drain(bool woken);
  void coalesce();

  boost::asio::io_context& io_;
  std::optional<boost::asio::posix::stream_descriptor> desc_;
  std::vector<epoll_event> events_;
  Handler handler_;
  BatchDone batch_done_;
  Coalescing coalescing_;
  Clock::time_point last_batch_end_{};
  unsigned busy_streak_ = 0;
  bool timer_slack_set_ = false;
  uint64_t coalesced_batches_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace evg::broker
