#pragma once
// evg::broker::LazyDeque: a std::deque that allocates nothing until the first element arrives.
//
// An empty libstdc++ std::deque already holds ~600 bytes (its map and one 512-byte node). The
// broker keeps three per connected client (a session's in-flight window and queue, the socket's
// pending frames), most of which stay empty for an idle device: with 10,000 idle clients that was
// 18 MB. This wrapper holds only a pointer until used; once used, it keeps its storage (no
// allocation churn when a busy window empties and refills).

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace evg::broker {

template <class T>
class LazyDeque {
 public:
  using iterator = typename std::deque<T>::iterator;

  bool empty() const { return d_ == nullptr || d_->empty(); }
  size_t size() const { return d_ == nullptr ? 0 : d_->size(); }
  T& front() { return d_->front(); }
  T& back() { return d_->back(); }
  void push_back(T&& v) { get().push_back(std::move(v)); }
  void pop_front() { d_->pop_front(); }
  void clear() {
    if (d_ != nullptr) d_->clear();
  }
  // Iterating allocates the (empty) storage if there is none yet.
  iterator begin() { return get().begin(); }
  iterator end() { return get().end(); }
  iterator erase(iterator it) { return d_->erase(it); }
  // Gives the storage back (only when empty): for queues that are idle most of the time.
  void release() {
    if (d_ != nullptr && d_->empty()) d_.reset();
  }

 private:
  std::deque<T>& get() {
    if (d_ == nullptr) d_ = std::make_unique<std::deque<T>>();
    return *d_;
  }
  std::unique_ptr<std::deque<T>> d_;
};

}  // namespace evg::broker
