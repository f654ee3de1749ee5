#include "broker/subscription_trie.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "mqtt/topic.h"

namespace evg::broker {
namespace {

Session* sess(int i) { return reinterpret_cast<Session*>(static_cast<uintptr_t>(i * 16)); }

std::map<Session*, std::vector<uint8_t>> matchMap(const SubscriptionTrie& t,
                                                  std::string_view topic) {
  std::vector<SubscriptionTrie::Match> out;
  t.match(topic, out);
  std::map<Session*, std::vector<uint8_t>> m;
  for (auto& x : out) m[x.session].push_back(x.qos);
  for (auto& [k, v] : m) std::sort(v.begin(), v.end());
  return m;
}

TEST(SubscriptionTrieTest, WildcardsAndDollarTopics) {
  SubscriptionTrie t;
  t.subscribe("a/b", sess(1), 1);
  t.subscribe("a/+", sess(2), 0);
  t.subscribe("a/#", sess(3), 2);
  t.subscribe("#", sess(4), 0);
  t.subscribe("+/b", sess(5), 1);
  t.subscribe("$SYS/#", sess(6), 0);
  EXPECT_EQ(t.size(), 6u);
  auto m = matchMap(t, "a/b");
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m[sess(1)], std::vector<uint8_t>{1});
  m = matchMap(t, "a");  // "a/#" matches the parent level too
  EXPECT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.count(sess(3)) && m.count(sess(4)));
  m = matchMap(t, "a/b/c");
  EXPECT_EQ(m.size(), 2u);
  m = matchMap(t, "$SYS/x");  // no first-level wildcard matches $ topics
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.count(sess(6)));
  m = matchMap(t, "/b");  // empty first level matched by '+'
  EXPECT_TRUE(m.count(sess(5)));
}

TEST(SubscriptionTrieTest, UpsertUnsubscribeAndPrune) {
  SubscriptionTrie t;
  t.subscribe("x/+/z", sess(1), 0);
  t.subscribe("x/+/z", sess(1), 2);  // update, not duplicate
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(matchMap(t, "x/y/z")[sess(1)], std::vector<uint8_t>{2});
  EXPECT_FALSE(t.unsubscribe("x/+/q", sess(1)));
  EXPECT_FALSE(t.unsubscribe("x/+/z", sess(2)));
  EXPECT_TRUE(t.unsubscribe("x/+/z", sess(1)));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(matchMap(t, "x/y/z").empty());
  t.subscribe("x/#", sess(1), 0);
  EXPECT_TRUE(t.unsubscribe("x/#", sess(1)));
  EXPECT_TRUE(matchMap(t, "x/y").empty());
}

TEST(SubscriptionTrieTest, AgreesWithTopicMatches) {
  const std::vector<std::string> filters = {"#",     "+",    "+/+", "a/#", "a/+/c",  "a/b/c",
                                            "+/b/#", "a//c", "/#",  "a/b", "$SYS/+", "+/+/+/+/+"};
  const std::vector<std::string> topics = {"a",  "a/b",   "a/b/c",     "a//c",      "/",
                                           "/a", "b/b/x", "$SYS/load", "a/b/c/d/e", "x"};
  SubscriptionTrie t;
  for (size_t i = 0; i < filters.size(); ++i) t.subscribe(filters[i], sess(int(i) + 1), 0);
  for (const auto& topic : topics) {
    auto m = matchMap(t, topic);
    for (size_t i = 0; i < filters.size(); ++i) {
      EXPECT_EQ(m.count(sess(int(i) + 1)) == 1, mqtt::topicMatches(filters[i], topic))
          << filters[i] << " vs " << topic;
    }
  }
  // Deep topics beyond the inline level buffer.
  std::string deep = "d";
  for (int i = 0; i < 40; ++i) deep += "/l";
  t.subscribe(deep, sess(99), 1);
  EXPECT_TRUE(matchMap(t, deep).count(sess(99)));
}

// Many clients, each on its own topic levels (the 10,000-device shape), next to shared
// wildcards: every level lives in the trie's one child table; pruning one client's levels leaves
// the others' intact, and a pruned path can be subscribed again.
TEST(SubscriptionTrieTest, ManyClientsOwnTopicsPruneIndependently) {
  SubscriptionTrie t;
  constexpr int kClients = 1000;
  for (int i = 1; i <= kClients; ++i) {
    t.subscribe("dev/d" + std::to_string(i) + "/in", sess(i), 1);
  }
  t.subscribe("dev/+/in", sess(kClients + 1), 0);
  t.subscribe("dev/#", sess(kClients + 2), 1);
  EXPECT_EQ(t.size(), static_cast<size_t>(kClients + 2));
  for (int i = 1; i <= kClients; i += 2) {
    ASSERT_TRUE(t.unsubscribe("dev/d" + std::to_string(i) + "/in", sess(i)));
  }
  EXPECT_FALSE(t.unsubscribe("dev/d1/in", sess(1)));
  for (int i = 1; i <= kClients; ++i) {
    auto m = matchMap(t, "dev/d" + std::to_string(i) + "/in");
    EXPECT_EQ(m.count(sess(i)), i % 2 == 0 ? 1u : 0u) << i;
    EXPECT_EQ(m.size(), i % 2 == 0 ? 3u : 2u) << i;  // + the two wildcards
  }
  EXPECT_TRUE(t.unsubscribe("dev/#", sess(kClients + 2)));
  EXPECT_FALSE(t.unsubscribe("dev/#", sess(kClients + 2)));
  t.subscribe("dev/d1/in", sess(1), 0);
  EXPECT_EQ(matchMap(t, "dev/d1/in").at(sess(1)), std::vector<uint8_t>{0});
  EXPECT_EQ(t.size(), static_cast<size_t>(kClients / 2 + 2));
}

// The match memo never returns a stale result: random subscribes/unsubscribes (QoS changes
// included) between repeated matches of the same topics (more topics than memo slots, so slots
// are overwritten too) always agree with a brute-force topicMatches() over the live filters.
TEST(SubscriptionTrieTest, MemoStaysExactAcrossChanges) {
  const std::vector<std::string> filters = {"#",   "+/x",   "a/+",    "a/b",
                                            "a/#", "s/+/t", "$SYS/#", "long/+"};
  std::vector<std::string> topics = {"a/b", "a/c", "b/x", "s/1/t", "$SYS/up", "a", "z"};
  for (int i = 0; i < 150; ++i) topics.push_back("dev/" + std::to_string(i));
  topics.push_back("long/" + std::string(SubscriptionTrie::kMemoMaxTopicBytes, 'x'));  // walked
  SubscriptionTrie t;
  std::map<std::pair<int, std::string>, uint8_t> live;  // (session, filter) -> qos
  uint32_t rnd = 12345;
  auto next = [&rnd] { return rnd = rnd * 1103515245u + 12345u, (rnd >> 8); };
  for (int step = 0; step < 3000; ++step) {
    const int sid = static_cast<int>(next() % 4) + 1;
    const std::string& f =
        next() % 3 == 0 ? topics[next() % topics.size()] : filters[next() % filters.size()];
    if (next() % 2 == 0) {
      const auto qos = static_cast<uint8_t>(next() % 3);
      t.subscribe(f, sess(sid), qos);
      live[{sid, f}] = qos;
    } else {
      EXPECT_EQ(t.unsubscribe(f, sess(sid)), live.erase({sid, f}) == 1);
    }
    for (int k = 0; k < 3; ++k) {
      const std::string& topic = topics[next() % topics.size()];
      std::map<Session*, std::vector<uint8_t>> want;
      for (const auto& [key, qos] : live) {
        if (mqtt::topicMatches(key.second, topic)) want[sess(key.first)].push_back(qos);
      }
      for (auto& [k2, v] : want) std::sort(v.begin(), v.end());
      ASSERT_EQ(matchMap(t, topic), want) << "step " << step << " topic " << topic;
    }
  }
}

}  // namespace
}  // namespace evg::broker
