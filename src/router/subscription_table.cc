#include "router/subscription_table.h"

#include <algorithm>

#include "mqtt/topic.h"

namespace evg::router {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

bool isWildcard(std::string_view level) { return level == "+" || level == "#"; }

}  // namespace

bool filtersOverlap(std::string_view a, std::string_view b) {
  auto la = mqtt::splitTopicLevels(a);
  auto lb = mqtt::splitTopicLevels(b);
  // '$' rule: a wildcard first level never matches a topic whose first level starts with '$'.
  auto dollar = [](std::string_view l) { return !l.empty() && l[0] == '$'; };
  if ((isWildcard(la[0]) && dollar(lb[0])) || (isWildcard(lb[0]) && dollar(la[0]))) return false;
  for (size_t i = 0;; ++i) {
    if (i < la.size() && la[i] == "#") return true;
    if (i < lb.size() && lb[i] == "#") return true;
    if (i == la.size() || i == lb.size()) return la.size() == lb.size();
    if (la[i] != "+" && lb[i] != "+" && la[i] != lb[i]) return false;
  }
}

struct SubscriptionTable::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;
  std::unique_ptr<Node> hash;
  std::vector<Entry> entries;
};

SubscriptionTable::SubscriptionTable() = default;
SubscriptionTable::~SubscriptionTable() = default;
SubscriptionTable::SubscriptionTable(SubscriptionTable&&) noexcept = default;
SubscriptionTable& SubscriptionTable::operator=(SubscriptionTable&&) noexcept = default;

SubscriptionTable SubscriptionTable::fromGroup(const group::Group& g) {
  SubscriptionTable t;
  for (const auto& s : g.subscriptions) {
    // Subjects were validated by parseGroup; a failure here would be a bug, and the entry is
    // simply not routed.
    (void)t.add(s.source_endpoint, s.subject, s.target_endpoint, s.id);
  }
  return t;
}

Status SubscriptionTable::add(const Endpoint& source, std::string_view subject,
                              const Endpoint& target, std::string id) {
  Status s = mqtt::validateTopicFilter(subject);
  if (!s) return Status::invalid("'" + std::string(subject) + "': " + s.message());
  std::unique_ptr<Node>& root = roots_[source];
  if (!root) root = std::make_unique<Node>();
  Node* n = root.get();
  for (std::string_view level : mqtt::splitTopicLevels(subject)) {
    std::unique_ptr<Node>* next;
    if (level == "+") {
      next = &n->plus;
    } else if (level == "#") {
      next = &n->hash;
    } else {
      auto it = n->children.find(level);
      if (it == n->children.end()) {
        it = n->children.emplace(std::string(level), nullptr).first;
      }
      next = &it->second;
    }
    if (!*next) *next = std::make_unique<Node>();
    n = next->get();
  }
  n->entries.push_back(Entry{target, std::move(id), size_});
  ++size_;
  auto& subjects = by_target_[target];
  subjects.emplace_back(subject);
  auto& from = by_source_[source];
  if (std::find(from.begin(), from.end(), subject) == from.end()) from.emplace_back(subject);
  return Status::ok();
}

namespace {

template <typename NodeT, typename EntryT>
void collect(const NodeT* n, std::string_view rest, bool at_end, bool first,
             std::vector<const EntryT*>* out) {
  auto add = [out](const NodeT* node) {
    for (const auto& e : node->entries) out->push_back(&e);
  };
  if (at_end) {
    add(n);
    if (n->hash) add(n->hash.get());  // "a/#" matches "a"
    return;
  }
  size_t slash = rest.find('/');
  std::string_view level = rest.substr(0, slash);
  std::string_view next_rest =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  bool next_at_end = slash == std::string_view::npos;
  bool dollar = first && !level.empty() && level[0] == '$';
  if (!dollar) {
    if (n->hash) add(n->hash.get());
    if (n->plus) collect<NodeT, EntryT>(n->plus.get(), next_rest, next_at_end, false, out);
  }
  auto it = n->children.find(level);
  if (it != n->children.end()) {
    collect<NodeT, EntryT>(it->second.get(), next_rest, next_at_end, false, out);
  }
}

}  // namespace

void SubscriptionTable::match(const Endpoint& source, std::string_view topic,
                              const MatchFn& fn) const {
  auto root = roots_.find(source);
  if (root == roots_.end()) return;
  std::vector<const Entry*> hits;
  collect<Node, Entry>(root->second.get(), topic, false, true, &hits);
  if (hits.empty()) return;
  std::sort(hits.begin(), hits.end(),
            [](const Entry* x, const Entry* y) { return x->order < y->order; });
  for (size_t i = 0; i < hits.size(); ++i) {
    bool seen = false;
    for (size_t k = 0; k < i && !seen; ++k) seen = hits[k]->target == hits[i]->target;
    if (!seen) fn(hits[i]->target, hits[i]->id);
  }
}

bool SubscriptionTable::couldDeliverTo(const Endpoint& target, std::string_view filter) const {
  auto it = by_target_.find(target);
  if (it == by_target_.end()) return false;
  for (const std::string& subject : it->second) {
    if (filtersOverlap(subject, filter)) return true;
  }
  return false;
}

std::vector<std::string> SubscriptionTable::subjectsFrom(const Endpoint& source) const {
  auto it = by_source_.find(source);
  if (it == by_source_.end()) return {};
  return it->second;
}

}  // namespace evg::router
