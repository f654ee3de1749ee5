#pragma once
// MemoCache: remembered results of a pure function of a string key (the cached value is exactly
// what computing it again would give), bounded: at most max_entries keys, each of at most
// max_key_bytes (a longer key is simply not remembered); when full it is cleared and refills
// with what is used now. Used where the same few inputs recur on a hot path (IPC client
// contexts: src/ipc/ipc_core.h, src/supervisor/function_host_impl.h).

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

namespace evg {

template <class V>
class MemoCache {
 public:
  MemoCache(size_t max_entries, size_t max_key_bytes)
      : max_entries_(max_entries), max_key_bytes_(max_key_bytes) {}

  // The remembered value for `key`, or nullptr.
  const V* find(const std::string& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  // Remembers `value` for `key` (not for a key over max_key_bytes).
  void put(const std::string& key, V value) {
    if (key.size() > max_key_bytes_ || max_entries_ == 0) return;
    if (map_.size() >= max_entries_) map_.clear();
    map_.insert_or_assign(key, std::move(value));
  }
  size_t size() const { return map_.size(); }

 private:
  size_t max_entries_;
  size_t max_key_bytes_;
  std::unordered_map<std::string, V> map_;
};

}  // namespace evg
