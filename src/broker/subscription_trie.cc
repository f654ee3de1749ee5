#include "broker/subscription_trie.h"

#include <algorithm>

namespace evg::broker {
namespace {

// Splits off the first level of `rest`; `rest` becomes what follows the '/' (or is exhausted).
std::string_view nextLevel(std::string_view& rest, bool& last) {
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    std::string_view level = rest;
    rest = {};
    last = true;
    return level;
  }
  std::string_view level = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  last = false;
  return level;
}

bool upsert(std::vector<SubscriptionTrie::Match>& v, Session* s, uint8_t qos) {
  for (auto& m : v) {
    if (m.session == s) {
      m.qos = qos;
      return false;
    }
  }
  v.push_back({s, qos});
  return true;
}

bool erase(std::vector<SubscriptionTrie::Match>& v, Session* s) {
  auto it = std::find_if(v.begin(), v.end(), [s](const auto& m) { return m.session == s; });
  if (it == v.end()) return false;
  *it = v.back();
  v.pop_back();
  return true;
}

}  // namespace

SubscriptionTrie::SubscriptionTrie() : root_(std::make_unique<Node>()) {}
SubscriptionTrie::~SubscriptionTrie() = default;

SubscriptionTrie::Node* SubscriptionTrie::child(const Node& parent, std::string_view level) const {
  if (parent.children == 0) return nullptr;
  auto it = children_.find(ChildRef{&parent, level});
  return it == children_.end() ? nullptr : it->second.get();
}

void SubscriptionTrie::subscribe(std::string_view filter, Session* session, uint8_t qos) {
  ++generation_;
  Node* n = root_.get();
  std::string_view rest = filter;
  bool last = false;
  while (true) {
    std::string_view level = nextLevel(rest, last);
    if (level == "#") {  // always the last level of a valid filter
      if (!n->multi) n->multi = std::make_unique<std::vector<Match>>();
      if (upsert(*n->multi, session, qos)) ++size_;
      return;
    }
    if (level == "+") {
      if (!n->plus) n->plus = std::make_unique<Node>();
      n = n->plus.get();
    } else if (Node* c = child(*n, level)) {
      n = c;
    } else {
      auto fresh = std::make_unique<Node>();
      Node* raw = fresh.get();
      children_.emplace(ChildKey{n, std::string(level)}, std::move(fresh));
      ++n->children;
      n = raw;
    }
    if (last) break;
  }
  if (upsert(n->exact, session, qos)) ++size_;
}

bool SubscriptionTrie::removeFrom(Node& n, std::string_view rest, Session* session) {
  bool last = false;
  std::string_view level = nextLevel(rest, last);
  if (level == "#") {
    if (!n.multi || !erase(*n.multi, session)) return false;
    if (n.multi->empty()) n.multi.reset();
    return true;
  }
  Node* c = level == "+" ? n.plus.get() : child(n, level);
  if (c == nullptr) return false;
  bool removed = last ? erase(c->exact, session) : removeFrom(*c, rest, session);
  if (removed && c->empty()) {
    if (level == "+") {
      n.plus.reset();
    } else {
      children_.erase(children_.find(ChildRef{&n, level}));
      --n.children;
    }
  } else if (removed && c->exact.empty() && c->exact.capacity() != 0) {
    std::vector<Match>().swap(c->exact);
  }
  return removed;
}

bool SubscriptionTrie::unsubscribe(std::string_view filter, Session* session) {
  ++generation_;
  bool removed = removeFrom(*root_, filter, session);
  if (removed) --size_;
  return removed;
}

void SubscriptionTrie::walk(const Node& n, const std::string_view* levels, size_t count, size_t i,
                            bool dollar, std::vector<Match>& out) const {
  const bool wild_ok = !(i == 0 && dollar);
  if (wild_ok && n.multi) out.insert(out.end(), n.multi->begin(), n.multi->end());
  if (i == count) {
    out.insert(out.end(), n.exact.begin(), n.exact.end());
    return;
  }
  if (const Node* c = child(n, levels[i])) walk(*c, levels, count, i + 1, dollar, out);
  if (wild_ok && n.plus) walk(*n.plus, levels, count, i + 1, dollar, out);
}

void SubscriptionTrie::match(std::string_view topic, std::vector<Match>& out) const {
  if (size_ == 0) return;
  if (topic.size() > kMemoMaxTopicBytes) return matchWalk(topic, out);
  const size_t hash = std::hash<std::string_view>{}(topic);
  if (!memo_) memo_ = std::make_unique<std::array<MemoSlot, kMemoSlots>>();
  MemoSlot& slot = (*memo_)[hash % kMemoSlots];
  if (slot.generation == generation_ && slot.hash == hash && slot.topic == topic) {
    out.insert(out.end(), slot.matches.begin(), slot.matches.end());
    return;
  }
  const size_t before = out.size();
  matchWalk(topic, out);
  if (out.size() - before > kMemoMaxMatches) {
    slot.generation = 0;
    return;
  }
  slot.generation = generation_;
  slot.hash = hash;
  slot.topic.assign(topic);
  slot.matches.assign(out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
}

void SubscriptionTrie::matchWalk(std::string_view topic, std::vector<Match>& out) const {
  constexpr size_t kInline = 32;
  std::string_view inline_levels[kInline];
  std::vector<std::string_view> heap_levels;
  std::string_view* levels = inline_levels;
  size_t count = 0;
  std::string_view rest = topic;
  bool last = false;
  while (!last) {
    std::string_view level = nextLevel(rest, last);
    if (count == kInline) {
      heap_levels.assign(inline_levels, inline_levels + kInline);
      levels = nullptr;
    }
    if (count >= kInline) {
      heap_levels.push_back(level);
    } else {
      inline_levels[count] = level;
    }
    ++count;
  }
  if (count > kInline) levels = heap_levels.data();
  walk(*root_, levels, count, 0, !topic.empty() && topic[0] == '$', out);
}

}  // namespace evg::broker
