#include "discovery/discovery.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace evg::discovery {
namespace {

using json = nlohmann::json;

DiscoveryInfo info() {
  DiscoveryInfo i;
  i.group_id = "g-1";
  i.core_thing_arn = "arn:aws:iot:us-east-1:123456789012:thing/Core";
  i.connectivity = {{"lan", "192.0.2.10", 8883, "eth0"}, {"lo", "127.0.0.1", 8883, ""}};
  i.ca_pems = {"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"};
  i.in_group = [](std::string_view t) { return t == "Sensor" || t == "Core"; };
  return i;
}

TEST(Discovery, AnswersTheGreengrassDiscoveryShape) {
  Answer a = handleDiscover("GET", "/greengrass/discover/thing/Sensor", "Sensor", info());
  ASSERT_EQ(a.status, 200) << a.body;
  json j = json::parse(a.body);
  ASSERT_EQ(j["GGGroups"].size(), 1u);
  const json& g = j["GGGroups"][0];
  EXPECT_EQ(g["GGGroupId"], "g-1");
  EXPECT_EQ(g["Cores"][0]["thingArn"], "arn:aws:iot:us-east-1:123456789012:thing/Core");
  ASSERT_EQ(g["Cores"][0]["Connectivity"].size(), 2u);
  EXPECT_EQ(g["Cores"][0]["Connectivity"][0], json({{"Id", "lan"},
                                                    {"HostAddress", "192.0.2.10"},
                                                    {"PortNumber", 8883},
                                                    {"Metadata", "eth0"}}));
  EXPECT_EQ(g["CAs"][0], info().ca_pems[0]);
}

TEST(Discovery, RefusesOtherThingsBadPathsAndMethods) {
  EXPECT_EQ(handleDiscover("GET", "/greengrass/discover/thing/Core", "Sensor", info()).status, 403);
  EXPECT_EQ(handleDiscover("GET", "/greengrass/discover/thing/Other", "Other", info()).status, 404);
  EXPECT_EQ(handleDiscover("GET", "/greengrass/discover/thing/", "Sensor", info()).status, 400);
  EXPECT_EQ(handleDiscover("GET", "/other", "Sensor", info()).status, 404);
  EXPECT_EQ(handleDiscover("POST", "/greengrass/discover/thing/Sensor", "Sensor", info()).status,
            405);
  Answer a = handleDiscover("GET", "/greengrass/discover/thing/Sensor?x=1", "Sensor", info());
  EXPECT_EQ(a.status, 200);
  a = handleDiscover("GET", "/greengrass/discover/thing/Core", "Sensor", info());
  EXPECT_NE(json::parse(a.body)["errorMessage"].get<std::string>().find("belongs to Sensor"),
            std::string::npos);
}

TEST(Discovery, DetectedAddressesEndWithLoopback) {
  auto a = detectHostAddresses();
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.back(), "127.0.0.1");
  for (size_t i = 0; i + 1 < a.size(); ++i) EXPECT_NE(a[i], "127.0.0.1");
}

}  // namespace
}  // namespace evg::discovery
