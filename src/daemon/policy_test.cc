#include "daemon/policy.h"

#include <gtest/gtest.h>

namespace evg::daemon {
namespace {

constexpr const char* kFpSensor =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr const char* kFpDash = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

nlohmann::json groupJson(const std::string& sensor_fp = kFpSensor) {
  const std::string p = "arn:aws:iot:us-east-1:123456789012:thing/";
  return {
      {"DeviceDefinitionVersion",
       {{"Devices",
         {{{"Id", "s"},
           {"ThingArn", p + "Sensor"},
           {"CertificateArn", "arn:aws:iot:us-east-1:123456789012:cert/s"},
           {"CertificateFingerprintSha256", sensor_fp}},
          {{"Id", "d"},
           {"ThingArn", p + "Dashboard"},
           {"CertificateArn", "arn:aws:iot:us-east-1:123456789012:cert/d"},
           {"CertificateFingerprintSha256", kFpDash}}}}}},
      {"SubscriptionDefinitionVersion",
       {{"Subscriptions",
         {{{"Id", "s1"},
           {"Source", p + "Sensor"},
           {"Subject", "sensors/+/temperature"},
           {"Target", p + "Dashboard"}},
          {{"Id", "s2"}, {"Source", p + "Sensor"}, {"Subject", "sensors/#"}, {"Target", "cloud"}},
          {{"Id", "s3"},
           {"Source", p + "Dashboard"},
           {"Subject", "commands/#"},
           {"Target", p + "Sensor"}}}}}}};
}

GroupPolicy makePolicy(PolicyOptions opts = {}, std::set<std::string> revoked = {},
                       const std::string& fp = kFpSensor) {
  auto g = group::parseGroup(groupJson(fp));
  EXPECT_TRUE(g.isOk()) << g.status().toString();
  return GroupPolicy(std::move(g).value(), std::move(revoked), std::move(opts));
}

TEST(GroupPolicyTest, CertificateIdentityAndRevocation) {
  auto p = makePolicy();
  EXPECT_EQ(p.thingForFingerprint(kFpSensor).value_or(""), "Sensor");
  EXPECT_FALSE(p.thingForFingerprint(std::string(64, 'c')).has_value());
  auto r = makePolicy({}, {kFpSensor});
  EXPECT_FALSE(r.thingForFingerprint(kFpSensor).has_value());
  EXPECT_EQ(r.thingForFingerprint(kFpDash).value_or(""), "Dashboard");
}

TEST(GroupPolicyTest, ConnectOnlyForThingsOfTheGroup) {
  auto p = makePolicy();
  EXPECT_EQ(p.authorizeConnect("Sensor"), 0);
  EXPECT_EQ(p.authorizeConnect("Stranger"), 5);
  EXPECT_EQ(p.authorizeConnect(""), 5);
  PolicyOptions open;
  open.open_broker = true;
  EXPECT_EQ(makePolicy(open).authorizeConnect("Stranger"), 0);
}

TEST(GroupPolicyTest, SubscribeGrantedOnlyWhereSomethingCanArrive) {
  auto p = makePolicy();
  EXPECT_TRUE(p.authorizeSubscribe("Dashboard", "sensors/kitchen/temperature"));
  EXPECT_TRUE(p.authorizeSubscribe("Dashboard", "sensors/#"));
  EXPECT_FALSE(p.authorizeSubscribe("Dashboard", "commands/#"));
  EXPECT_TRUE(p.authorizeSubscribe("Sensor", "commands/reboot"));
  EXPECT_FALSE(p.authorizeSubscribe("Sensor", "sensors/#"));
}

TEST(GroupPolicyTest, OpenModeDenyList) {
  PolicyOptions open;
  open.open_broker = true;
  open.deny_list = {"secret/#"};
  auto p = makePolicy(open);
  EXPECT_TRUE(p.authorizeSubscribe("x", "public/a"));
  EXPECT_FALSE(p.authorizeSubscribe("x", "secret/a"));
  // Filters that can also match allowed topics are granted; delivery filters the denied ones.
  EXPECT_TRUE(p.authorizeSubscribe("x", "#"));
  EXPECT_TRUE(p.authorizeSubscribe("x", "+/a"));
  EXPECT_FALSE(p.authorizeSubscribe("x", "secret/#"));
  EXPECT_FALSE(p.authorizeSubscribe("x", "secret/+/b"));
  EXPECT_TRUE(p.isDenied("secret/a"));
  EXPECT_TRUE(p.isDenied("secret"));
  EXPECT_FALSE(p.isDenied("public/a"));
  EXPECT_FALSE(makePolicy().isDenied("secret/a"));  // group mode: no deny list
}

TEST(GroupPolicyTest, FilterCoveredBy) {
  EXPECT_TRUE(filterCoveredBy("test/nosubscribe", "test/nosubscribe"));
  EXPECT_FALSE(filterCoveredBy("#", "test/nosubscribe"));
  EXPECT_FALSE(filterCoveredBy("+/+", "test/nosubscribe"));
  EXPECT_FALSE(filterCoveredBy("test/+", "test/nosubscribe"));
  EXPECT_TRUE(filterCoveredBy("a/b/c", "a/+/c"));
  EXPECT_TRUE(filterCoveredBy("a/+/c", "a/+/c"));
  EXPECT_FALSE(filterCoveredBy("a/+/c", "a/b/c"));
  EXPECT_TRUE(filterCoveredBy("a", "a/#"));
  EXPECT_TRUE(filterCoveredBy("a/+/#", "a/#"));
  EXPECT_FALSE(filterCoveredBy("a/#", "a/+"));
  EXPECT_FALSE(filterCoveredBy("a/b", "a/b/c"));
  EXPECT_FALSE(filterCoveredBy("a/b/c", "a/b"));
  EXPECT_TRUE(filterCoveredBy("#", "#"));
  EXPECT_FALSE(filterCoveredBy("$SYS/#", "#"));
  EXPECT_FALSE(filterCoveredBy("$SYS/x", "+/x"));
  EXPECT_TRUE(filterCoveredBy("$SYS/x", "$SYS/+"));
}

TEST(GroupPolicyTest, RoutesByTable) {
  auto p = makePolicy();
  std::vector<std::string> targets;
  p.route(group::Endpoint::thing("Sensor"), "sensors/kitchen/temperature",
          [&](const group::Endpoint& t) { targets.push_back(t.toString()); });
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0], "thing:Dashboard");
  EXPECT_EQ(targets[1], "cloud");
  targets.clear();
  p.route(group::Endpoint::thing("Dashboard"), "sensors/kitchen/temperature",
          [&](const group::Endpoint& t) { targets.push_back(t.toString()); });
  EXPECT_TRUE(targets.empty());
  EXPECT_TRUE(p.mayReceive("Sensor", "Dashboard", "sensors/a/temperature"));
  EXPECT_FALSE(p.mayReceive("Sensor", "Dashboard", "sensors/a/humidity"));
}

TEST(GroupPolicyTest, AccessSignatureChangesWithCertificateOnly) {
  auto a = makePolicy();
  auto b = makePolicy({}, {}, std::string(64, 'e'));
  EXPECT_EQ(a.accessSignature("Dashboard"), b.accessSignature("Dashboard"));
  EXPECT_NE(a.accessSignature("Sensor"), b.accessSignature("Sensor"));
  EXPECT_EQ(a.accessSignature("Nobody"), "absent");
  auto r = makePolicy({}, {kFpSensor});
  EXPECT_NE(a.accessSignature("Sensor"), r.accessSignature("Sensor"));
}

}  // namespace
}  // namespace evg::daemon
