#include "router/subscription_table.h"

#include <gtest/gtest.h>

#include <utility>

namespace evg::router {
namespace {

using Match = std::pair<std::string, std::string>;  // target.toString(), subscription id

const Endpoint kDev = Endpoint::thing("dev");
const Endpoint kOther = Endpoint::thing("other");
const Endpoint kFn = Endpoint::function("arn:aws:lambda:us-east-1:123456789012:function:F:1");
const Endpoint kCloud = Endpoint::cloud();

std::vector<Match> matches(const SubscriptionTable& t, const Endpoint& src,
                           std::string_view topic) {
  std::vector<Match> out;
  t.match(src, topic, [&](const Endpoint& target, const std::string& id) {
    out.emplace_back(target.toString(), id);
  });
  return out;
}

TEST(SubscriptionTableTest, ExactPlusHash) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kDev, "a/b", kFn, "exact").isOk());
  ASSERT_TRUE(t.add(kDev, "a/+/c", kCloud, "plus").isOk());
  ASSERT_TRUE(t.add(kDev, "x/#", kOther, "hash").isOk());
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(matches(t, kDev, "a/b"), (std::vector<Match>{{kFn.toString(), "exact"}}));
  EXPECT_EQ(matches(t, kDev, "a/zz/c"), (std::vector<Match>{{"cloud", "plus"}}));
  EXPECT_TRUE(matches(t, kDev, "a/b/c/d").empty());
  EXPECT_TRUE(matches(t, kDev, "a").empty());
  EXPECT_EQ(matches(t, kDev, "x"), (std::vector<Match>{{"thing:other", "hash"}}));  // parent
  EXPECT_EQ(matches(t, kDev, "x/1/2/3"), (std::vector<Match>{{"thing:other", "hash"}}));
  EXPECT_TRUE(matches(t, kDev, "xy").empty());
}

TEST(SubscriptionTableTest, SourceMustMatch) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kDev, "#", kFn, "s1").isOk());
  EXPECT_EQ(matches(t, kDev, "t").size(), 1u);
  EXPECT_TRUE(matches(t, kOther, "t").empty());
  EXPECT_TRUE(matches(t, kCloud, "t").empty());
  // Same name, different kind is a different endpoint.
  EXPECT_TRUE(matches(t, Endpoint::connector("dev"), "t").empty());
}

TEST(SubscriptionTableTest, DollarTopicsVsWildcards) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kDev, "#", kCloud, "all").isOk());
  ASSERT_TRUE(t.add(kDev, "+/things/dev/shadow/update", kOther, "plus").isOk());
  ASSERT_TRUE(t.add(kDev, "$aws/things/dev/shadow/#", Endpoint::shadow(), "shadow").isOk());
  EXPECT_EQ(matches(t, kDev, "$aws/things/dev/shadow/update"),
            (std::vector<Match>{{"GGShadowService", "shadow"}}));
  EXPECT_EQ(matches(t, kDev, "aws/things/dev/shadow/update"),
            (std::vector<Match>{{"cloud", "all"}, {"thing:other", "plus"}}));
  // '$' rule only applies to the first level.
  ASSERT_TRUE(t.add(kDev, "a/+", kFn, "inner").isOk());
  EXPECT_EQ(matches(t, kDev, "a/$x"),
            (std::vector<Match>{{"cloud", "all"}, {kFn.toString(), "inner"}}));
}

TEST(SubscriptionTableTest, OverlappingSubjectsDedupeByTargetKeepingFirstId) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kDev, "s/#", kFn, "first").isOk());
  ASSERT_TRUE(t.add(kDev, "s/+", kCloud, "cloud-1").isOk());
  ASSERT_TRUE(t.add(kDev, "s/t", kFn, "second").isOk());
  ASSERT_TRUE(t.add(kDev, "+/t", kFn, "third").isOk());
  ASSERT_TRUE(t.add(kDev, "s/t", kCloud, "cloud-2").isOk());
  EXPECT_EQ(matches(t, kDev, "s/t"),
            (std::vector<Match>{{kFn.toString(), "first"}, {"cloud", "cloud-1"}}));
  // Identical subscription added twice (different ids) still delivers once.
  ASSERT_TRUE(t.add(kDev, "dup", kOther, "d1").isOk());
  ASSERT_TRUE(t.add(kDev, "dup", kOther, "d2").isOk());
  EXPECT_EQ(matches(t, kDev, "dup"), (std::vector<Match>{{"thing:other", "d1"}}));
}

TEST(SubscriptionTableTest, EmptyLevels) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kDev, "a//b", kFn, "e").isOk());
  ASSERT_TRUE(t.add(kDev, "+/+", kCloud, "p").isOk());
  EXPECT_EQ(matches(t, kDev, "a//b").size(), 1u);
  EXPECT_EQ(matches(t, kDev, "a/b"), (std::vector<Match>{{"cloud", "p"}}));
  EXPECT_EQ(matches(t, kDev, "/"), (std::vector<Match>{{"cloud", "p"}}));
}

TEST(SubscriptionTableTest, AddRejectsBadFilter) {
  SubscriptionTable t;
  Status s = t.add(kDev, "a/#/b", kFn, "x");
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(s.message(), "'a/#/b': '#' must be the last topic level");
  EXPECT_EQ(t.size(), 0u);
}

TEST(FiltersOverlapTest, Definition) {
  struct C {
    const char* a;
    const char* b;
    bool overlap;
  };
  const C cases[] = {
      {"a/b", "a/b", true},     {"a/b", "a/c", false},      {"a/+", "a/b", true},
      {"a/+", "+/b", true},     {"a/#", "a", true},         {"a/#", "a/b/c", true},
      {"#", "x/y", true},       {"a/+", "a", false},        {"a/+", "a/b/c", false},
      {"a/b/#", "a/+/c", true}, {"a/b/#", "a/c/#", false},  {"+", "a/b", false},
      {"+/+", "a/b", true},     {"a//b", "a/+/b", true},    {"#", "$SYS/x", false},
      {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/+", true}, {"$SYS/x", "$SYS/x", true},
      {"a/$x", "a/+", true},    {"#", "+", true},           {"a", "a/b", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(filtersOverlap(c.a, c.b), c.overlap) << c.a << " vs " << c.b;
    EXPECT_EQ(filtersOverlap(c.b, c.a), c.overlap) << c.b << " vs " << c.a << " (symmetric)";
  }
}

TEST(SubscriptionTableTest, CouldDeliverTo) {
  SubscriptionTable t;
  ASSERT_TRUE(t.add(kCloud, "commands/dev/#", kDev, "c").isOk());
  ASSERT_TRUE(t.add(kFn, "echo/+", kDev, "e").isOk());
  ASSERT_TRUE(t.add(kFn, "other/#", kOther, "o").isOk());
  // Requested filter covered by a subject.
  EXPECT_TRUE(t.couldDeliverTo(kDev, "commands/dev/reboot"));
  EXPECT_TRUE(t.couldDeliverTo(kDev, "echo/x"));
  // Requested filter covers a subject.
  EXPECT_TRUE(t.couldDeliverTo(kDev, "#"));
  EXPECT_TRUE(t.couldDeliverTo(kDev, "commands/#"));
  EXPECT_TRUE(t.couldDeliverTo(kDev, "+/+"));  // echo/+
  // No overlap.
  EXPECT_FALSE(t.couldDeliverTo(kDev, "echo/x/y"));
  EXPECT_FALSE(t.couldDeliverTo(kDev, "other/x"));
  EXPECT_FALSE(t.couldDeliverTo(kDev, "commands/another/#"));
  // Target must match.
  EXPECT_FALSE(t.couldDeliverTo(kCloud, "#"));
  EXPECT_TRUE(t.couldDeliverTo(kOther, "other"));
}

TEST(SubscriptionTableTest, FromGroupAndSubjectsFrom) {
  const std::string dev_arn = "arn:aws:iot:us-east-1:123456789012:thing/dev";
  nlohmann::json j = {
      {"DeviceDefinitionVersion",
       {{"Devices", {{{"Id", "d"}, {"ThingArn", dev_arn}, {"CertificateArn", "c"}}}}}},
      {"SubscriptionDefinitionVersion",
       {{"Subscriptions",
         {{{"Id", "s1"}, {"Source", "cloud"}, {"Subject", "cmd/#"}, {"Target", dev_arn}},
          {{"Id", "s2"}, {"Source", dev_arn}, {"Subject", "tele/+"}, {"Target", "cloud"}},
          {{"Id", "s3"}, {"Source", "cloud"}, {"Subject", "cfg"}, {"Target", dev_arn}},
          {{"Id", "s4"},
           {"Source", "cloud"},
           {"Subject", "cmd/#"},
           {"Target", "GGShadowService"}}}}}}};
  auto parsed = group::parseGroup(j);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  auto t = SubscriptionTable::fromGroup(*parsed);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(matches(t, kDev, "tele/temp"), (std::vector<Match>{{"cloud", "s2"}}));
  EXPECT_EQ(matches(t, kCloud, "cmd/reboot"),
            (std::vector<Match>{{"thing:dev", "s1"}, {"GGShadowService", "s4"}}));
  EXPECT_EQ(t.subjectsFrom(kCloud), (std::vector<std::string>{"cmd/#", "cfg"}));
  EXPECT_TRUE(t.subjectsFrom(kOther).empty());
}

}  // namespace
}  // namespace evg::router
