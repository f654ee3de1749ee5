#include "broker/conn_poller.h"

#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace evg::broker {

namespace asio = boost::asio;

ConnPoller::ConnPoller(asio::io_context& io, size_t max_events_per_turn, Coalescing coalescing)
    : io_(io), events_(std::max<size_t>(max_events_per_turn, 1)), coalescing_(coalescing) {
  coalescing_.busy_wakeups = std::max(coalescing_.busy_wakeups, 1u);
}

ConnPoller::ConnPoller(asio::io_context& io, size_t max_events_per_turn)
    : ConnPoller(io, max_events_per_turn, Coalescing{}) {}

ConnPoller::~ConnPoller() { close(); }

Status ConnPoller::open(Handler handler, BatchDone batch_done) {
  if (desc_) return Status::ok();
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return Status::io(std::string("epoll_create1 failed: ") + std::strerror(errno));
  boost::system::error_code ec;
  desc_.emplace(io_);
  desc_->assign(fd, ec);
  if (ec) {
    ::close(fd);
    desc_.reset();
    return Status::io("cannot watch the connection epoll set: " + ec.message());
  }
  handler_ = std::move(handler);
  batch_done_ = std::move(batch_done);
  wait();
  return Status::ok();
}

Status ConnPoller::add(int fd, uint64_t key) {
  if (!desc_) return Status::io("connection poller is closed");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = key;
  if (::epoll_ctl(desc_->native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Status::io(std::string("epoll_ctl(ADD) failed: ") + std::strerror(errno));
  }
  return Status::ok();
}

void ConnPoller::close() {
  if (!desc_) return;
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  boost::system::error_code ec;
  desc_->close(ec);
  desc_.reset();
}

// The set's descriptor is readable while any socket in it has events. Asio's reactor is
// edge-triggered too, so wait() is only called once drain() found the set empty.
void ConnPoller::wait() {
  std::weak_ptr<bool> alive = alive_;
  desc_->async_wait(asio::posix::stream_descriptor::wait_read,
                    [this, alive](const boost::system::error_code& ec) {
                      auto a = alive.lock();
                      if (!a || !*a || ec) return;
                      drain(true);
                    });
}

void ConnPoller::coalesce() {
  const auto delay = coalescing_.delay;
  const auto now = Clock::now();
  if (now - last_batch_end_ >= delay) {
    busy_streak_ = 0;
    return;
  }
  // Saturates: under hours of steady load the count must not wrap back below the threshold.
  if (busy_streak_ < coalescing_.busy_wakeups) ++busy_streak_;
  if (busy_streak_ < coalescing_.busy_wakeups) return;
  if (!timer_slack_set_) {
    // The loop thread's timer slack (50 us by default) would stretch every sleep below by that
    // much; 1 us keeps the delay what was configured. The loop thread waits in epoll with no
    // timeout (Asio's timers are timerfds), so nothing else it does changes.
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    timer_slack_set_ = true;
  }
  const auto until = std::chrono::duration_cast<std::chrono::nanoseconds>(
      (last_batch_end_ + delay).time_since_epoch());
  timespec ts{static_cast<time_t>(until.count() / 1000000000),
              static_cast<long>(until.count() % 1000000000)};
  // steady_clock is CLOCK_MONOTONIC (libstdc++); EINTR just ends the wait early.
  ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  ++coalesced_batches_;
}

void ConnPoller::drain(bool woken) {
  if (woken && coalescing_.delay.count() > 0) coalesce();
  int n;
  do {
    n = ::epoll_wait(desc_->native_handle(), events_.data(), static_cast<int>(events_.size()), 0);
  } while (n < 0 && errno == EINTR);
  std::weak_ptr<bool> alive = alive_;
  for (int i = 0; i < n; ++i) {
    handler_(events_[i].data.u64, events_[i].events);
    auto a = alive.lock();
    if (!a || !*a) return;  // closed by a handler
  }
  if (n > 0 && batch_done_) {
    batch_done_();
    auto a = alive.lock();
    if (!a || !*a) return;
  }
  if (n > 0 && coalescing_.delay.count() > 0) last_batch_end_ = Clock::now();
  if (n == static_cast<int>(events_.size())) {
    // Maybe more: take them in a later turn, after the handlers queued meanwhile.
    asio::post(io_, [this, alive] {
      auto a = alive.lock();
      if (a && *a) drain(false);
    });
    return;
  }
  wait();
}

}  // namespace evg::broker
