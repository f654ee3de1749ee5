#include "broker/conn_poller.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace evg::broker {

namespace asio = boost::asio;

ConnPoller::ConnPoller(asio::io_context& io, size_t max_events_per_turn)
    : io_(io), events_(std::max<size_t>(max_events_per_turn, 1)) {}

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
                      drain();
                    });
}

void ConnPoller::drain() {
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
  if (n == static_cast<int>(events_.size())) {
    // Maybe more: take them in a later turn, after the handlers queued meanwhile.
    asio::post(io_, [this, alive] {
      auto a = alive.lock();
      if (a && *a) drain();
    });
    return;
  }
  wait();
}

}  // namespace evg::broker
