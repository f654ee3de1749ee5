#pragma once
// SubscriptionTable: the group's subscriptions indexed for per-message routing.
//
// Design note. Entries are grouped first by Source endpoint, then stored in a topic trie keyed by
// level: each node has exact-level children (hash map), a '+' child and a '#' child, and holds the
// entries whose Subject ends at that node. match() walks only the trie of the publishing source,
// visiting at most (levels x 3) branches per level of the topic, so its cost depends on the topic's
// depth and on how many subjects actually match — not on the total number of subscriptions
// (bench/router_bench.cc shows it flat from 10 to 10,000).
// MQTT §4.7.2: a topic whose first level starts with '$' is not matched by a Subject whose first
// level is '+' or '#'.
//
// Built once per deployment; immutable afterwards. Thread-compatible: concurrent const calls are
// safe. Counters (matched/dropped messages) are the caller's job.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "group/group.h"

namespace evg::router {

using group::Endpoint;

// True when some topic name is matched by both filters a and b (both valid MQTT filters), taking
// the '$' rule into account. Level by level: '#' overlaps everything from its level on (including
// the parent level: "a/#" and "a" overlap); '+' overlaps any single level; literals must be
// equal; both filters must end at the same level unless one continues with exactly "/#".
// A wildcard first level never overlaps a literal first level starting with '$'.
bool filtersOverlap(std::string_view a, std::string_view b);

class SubscriptionTable {
 public:
  using MatchFn = std::function<void(const Endpoint& target, const std::string& subscription_id)>;

  SubscriptionTable();
  ~SubscriptionTable();
  SubscriptionTable(SubscriptionTable&&) noexcept;
  SubscriptionTable& operator=(SubscriptionTable&&) noexcept;

  // Builds the table from a validated group's subscriptions (cannot fail: parseGroup validated
  // every Subject).
  static SubscriptionTable fromGroup(const group::Group& g);

  // Adds one subscription. Invalid if `subject` is not a valid topic filter.
  Status add(const Endpoint& source, std::string_view subject, const Endpoint& target,
             std::string id);

  // Calls fn once per distinct target of the subscriptions with Source == source whose Subject
  // matches `topic` (a valid topic name). When several subscriptions lead to the same target the
  // id passed is that of the one added first (group order). Targets are reported in the order of
  // their first subscription. fn must not modify the table.
  void match(const Endpoint& source, std::string_view topic, const MatchFn& fn) const;

  // Whether a client acting as `target` may be granted SUBSCRIBE to `filter`: true when some
  // subscription with that Target has a Subject that overlaps `filter` (filtersOverlap), i.e. at
  // least one topic exists that the subscription could deliver and the filter would receive.
  // Linear in the number of subscriptions targeting `target` (called at SUBSCRIBE time only).
  bool couldDeliverTo(const Endpoint& target, std::string_view filter) const;

  // Distinct Subjects of the subscriptions with Source == source, in group order (e.g. the cloud
  // topics to subscribe to upstream).
  std::vector<std::string> subjectsFrom(const Endpoint& source) const;

  size_t size() const { return size_; }

 private:
  struct Entry {
    Endpoint target;
    std::string id;
    size_t order;  // insertion index: dedupe keeps the earliest
  };
  struct Node;

  std::unordered_map<Endpoint, std::unique_ptr<Node>, group::EndpointHash> roots_;
  std::unordered_map<Endpoint, std::vector<std::string>, group::EndpointHash> by_target_;
  std::unordered_map<Endpoint, std::vector<std::string>, group::EndpointHash> by_source_;
  size_t size_ = 0;
};

}  // namespace evg::router
