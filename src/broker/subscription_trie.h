#pragma once
// Subscription trie for PUBLISH fan-out.
//
// Design note: one node per topic level. A node keeps
//   - exact:    subscribers whose filter ends at this node ("a/b" lives on node a -> b),
//   - multi:    subscribers of "<path>/#" (on the node of <path>; "#" alone lives on the root),
//   - children: literal next levels, kept in ONE hash table for the whole trie keyed by
//               (parent node, level) (heterogeneous lookup, no allocation on match) instead of a
//               map per node: a per-node std::unordered_map cost ~160 bytes (header + bucket
//               array) on every node, i.e. on every client's own topic levels (issue 17),
//   - plus:     the "+" child.
// match() walks the topic's levels once, following the literal child and the "+" child at each
// level and collecting `multi` on the way, so its cost is O(levels x wildcard branching), not
// O(subscriptions). A client with overlapping filters is returned once per matching filter; the
// caller dedupes (broker_core.cc keeps the max QoS per session with an epoch stamp).
// Topics starting with '$' are not matched by a first-level '+' or '#' (MQTT 3.1.1 §4.7.2).
// Empty nodes are pruned on unsubscribe. Not thread-safe (loop-thread only).
//
// Match memo: devices publish to the same few topics over and over, and a walk costs ~1,300
// instructions (a hash per level) against ~150 for a lookup. match() remembers its result per
// topic in a small direct-mapped table (kMemoSlots slots chosen by the topic's hash; a miss
// overwrites the slot, reusing its buffers, so many distinct topics cost no allocation after
// warm-up). Every subscribe/unsubscribe bumps a generation that invalidates all slots, so a
// remembered result is always exactly what a walk would return. Results with more than
// kMemoMaxMatches entries and topics over kMemoMaxTopicBytes are not remembered (the memo holds
// at most 64 x 256 bytes of topics). The table is allocated on the first match.

#include <array>
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

  static constexpr size_t kMemoSlots = 64;
  static constexpr size_t kMemoMaxMatches = 32;
  static constexpr size_t kMemoMaxTopicBytes = 256;  // longer topics are walked every time

 private:
  struct MemoSlot {
    uint64_t generation = 0;  // 0: empty
    size_t hash = 0;
    std::string topic;
    std::vector<Match> matches;
  };
  void matchWalk(std::string_view topic, std::vector<Match>& out) const;

  struct Node {
    std::unique_ptr<Node> plus;
    std::vector<Match> exact;
    std::unique_ptr<std::vector<Match>> multi;  // "#" subscribers: rare, so held by pointer
    uint32_t children = 0;                      // literal children in children_
    bool empty() const { return children == 0 && !plus && exact.empty() && !multi; }
  };
  // children_ key: a literal level under a parent node.
  struct ChildKey {
    const Node* parent;
    std::string level;
  };
  struct ChildRef {  // lookup without building a std::string
    const Node* parent;
    std::string_view level;
  };
  struct ChildHash {
    using is_transparent = void;
    size_t operator()(const ChildRef& k) const {
      return std::hash<std::string_view>{}(k.level) ^
             (std::hash<const void*>{}(k.parent) * 0x9E3779B97F4A7C15ull);
    }
    size_t operator()(const ChildKey& k) const { return (*this)(ChildRef{k.parent, k.level}); }
  };
  struct ChildEq {
    using is_transparent = void;
    static ChildRef ref(const ChildKey& k) { return {k.parent, k.level}; }
    static ChildRef ref(const ChildRef& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      ChildRef x = ref(a), y = ref(b);
      return x.parent == y.parent && x.level == y.level;
    }
  };
  Node* child(const Node& parent, std::string_view level) const;
  void walk(const Node& n, const std::string_view* levels, size_t count, size_t i, bool dollar,
            std::vector<Match>& out) const;
  bool removeFrom(Node& n, std::string_view rest, Session* session);

  std::unordered_map<ChildKey, std::unique_ptr<Node>, ChildHash, ChildEq> children_;
  std::unique_ptr<Node> root_;
  size_t size_ = 0;
  uint64_t generation_ = 1;  // bumped by every change; memo slots of older ones are stale
  mutable std::unique_ptr<std::array<MemoSlot, kMemoSlots>> memo_;
};

}  // namespace evg::broker
