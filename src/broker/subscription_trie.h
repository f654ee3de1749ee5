#pragma once
// Subscription trie for PUBLISH fan-out.
//
// Design note: one node per topic level. A node keeps
//   - exact:    subscribers whose filter ends at this node ("a/b" lives on node a -> b),
//   - multi:    subscribers of "<path>/#" (on the node of <path>; "#" alone lives on the root),
//   - children: literal next levels (hash map, heterogeneous lookup, no allocation on match),
//   - plus:     the "+" child.
// match() walks the topic's levels once, following the literal child and the "+" child at each
// level and collecting `multi` on the way, so its cost is O(levels x wildcard branching), not
// O(subscriptions). A client with overlapping filters is returned once per matching filter; the
// caller dedupes (broker_core.cc keeps the max QoS per session with an epoch stamp).
// Topics starting with '$' are not matched by a first-level '+' or '#' (MQTT 3.1.1 §4.7.2).
// Empty nodes are pruned on unsubscribe. Not thread-safe (loop-thread only).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace evg::broker {

struct Session;

class SubscriptionTrie {
 public:
  struct Match {
    Session* session;
    uint8_t qos;
  };

  SubscriptionTrie();
  ~SubscriptionTrie();
  SubscriptionTrie(const SubscriptionTrie&) = delete;
  SubscriptionTrie& operator=(const SubscriptionTrie&) = delete;

  // Adds (or updates the QoS of) `session`'s subscription to a valid filter.
  void subscribe(std::string_view filter, Session* session, uint8_t qos);
  // Removes it; returns false when it was not there.
  bool unsubscribe(std::string_view filter, Session* session);
  // Appends every (session, qos) whose filter matches the valid topic name `topic`.
  void match(std::string_view topic, std::vector<Match>& out) const;
  // Number of (filter, session) entries.
  size_t size() const { return size_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, Hash, std::equal_to<>> children;
    std::unique_ptr<Node> plus;
    std::vector<Match> exact;
    std::vector<Match> multi;
    bool empty() const { return children.empty() && !plus && exact.empty() && multi.empty(); }
  };
  static void walk(const Node& n, const std::string_view* levels, size_t count, size_t i,
                   bool dollar, std::vector<Match>& out);
  bool removeFrom(Node& n, std::string_view rest, Session* session);

  std::unique_ptr<Node> root_;
  size_t size_ = 0;
};

}  // namespace evg::broker
