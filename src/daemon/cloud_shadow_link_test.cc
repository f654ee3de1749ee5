#include "daemon/cloud_shadow_link.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "shadow/shadow_service.h"
#include "shadow/shadow_store.h"

namespace evg::daemon {
namespace {

// Records what the link hands to the cloud client.
struct FakeCloud {
  bool up = false;
  std::vector<std::pair<std::string, std::string>> sent;
  std::vector<std::vector<std::string>> sets;  // every setSubscriptions call
  bool persistent = false;

  CloudPort port() {
    CloudPort p;
    p.connected = [this] { return up; };
    p.publish = [this](const std::string& t, std::shared_ptr<const std::string> pl) {
      sent.emplace_back(t, *pl);
    };
    p.set_subscriptions = [this](std::vector<std::string> f, bool pers) {
      sets.push_back(std::move(f));
      persistent = pers;
    };
    return p;
  }
  std::vector<std::string> last() const {
    return sets.empty() ? std::vector<std::string>{} : sets.back();
  }
};

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(CloudShadowLinkTest, ShadowFiltersAreAddedToTheCloudSubjects) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  link.setCloudFilters({"cmd/#", "ota/+"}, true);
  ASSERT_EQ(c.sets.size(), 1u);
  EXPECT_EQ(c.last(), (std::vector<std::string>{"cmd/#", "ota/+"}));
  EXPECT_TRUE(c.persistent);

  ASSERT_TRUE(link.subscribe("$aws/things/Lamp/shadow/update/documents"));
  EXPECT_EQ(c.last(), (std::vector<std::string>{"cmd/#", "ota/+",
                                                "$aws/things/Lamp/shadow/update/documents"}));
  // A deploy that changes the Source=cloud subjects keeps the shadow filters.
  link.setCloudFilters({"cmd/#"}, false);
  EXPECT_EQ(c.last(),
            (std::vector<std::string>{"cmd/#", "$aws/things/Lamp/shadow/update/documents"}));
  EXPECT_FALSE(c.persistent);
}

TEST(CloudShadowLinkTest, RepeatedSubscribeDoesNotResubscribe) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  ASSERT_TRUE(link.subscribe("$aws/things/A/shadow/get/accepted"));
  size_t n = c.sets.size();
  ASSERT_TRUE(link.subscribe("$aws/things/A/shadow/get/accepted"));
  EXPECT_EQ(c.sets.size(), n);
}

TEST(CloudShadowLinkTest, OverlapWithACloudSubjectIsListedOnce) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  link.setCloudFilters({"$aws/things/A/shadow/get/accepted"}, false);
  ASSERT_TRUE(link.subscribe("$aws/things/A/shadow/get/accepted"));
  EXPECT_EQ(c.last(), (std::vector<std::string>{"$aws/things/A/shadow/get/accepted"}));
}

TEST(CloudShadowLinkTest, RetainThingsDropsFiltersOfUnsyncedThings) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  link.setCloudFilters({"cmd/#"}, false);
  ASSERT_TRUE(link.subscribe("$aws/things/A/shadow/get/accepted"));
  ASSERT_TRUE(link.subscribe("$aws/things/B/shadow/get/accepted"));
  link.retainThings({"B"});
  EXPECT_EQ(c.last(), (std::vector<std::string>{"cmd/#", "$aws/things/B/shadow/get/accepted"}));
  size_t n = c.sets.size();
  link.retainThings({"B"});  // nothing changes: no call
  EXPECT_EQ(c.sets.size(), n);
}

TEST(CloudShadowLinkTest, LimitAndEmptyFilterAreErrors) {
  FakeCloud c;
  CloudShadowLinkOptions o;
  o.max_shadow_filters = 1;
  CloudShadowLink link(c.port(), o);
  EXPECT_FALSE(link.subscribe(""));
  ASSERT_TRUE(link.subscribe("$aws/things/A/shadow/get/accepted"));
  Status s = link.subscribe("$aws/things/A/shadow/get/rejected");
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("max_shadow_filters"), std::string::npos) << s.message();
  EXPECT_EQ(link.filters().size(), 1u);
}

TEST(CloudShadowLinkTest, PublishAndConnectedGoToTheClient) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  EXPECT_FALSE(link.connected());
  c.up = true;
  EXPECT_TRUE(link.connected());
  ASSERT_TRUE(link.publish("$aws/things/A/shadow/get", "{}"));
  ASSERT_EQ(c.sent.size(), 1u);
  EXPECT_EQ(c.sent[0].first, "$aws/things/A/shadow/get");
}

TEST(CloudShadowLinkTest, WithoutAClientPublishIsAnError) {
  CloudShadowLink link(CloudPort{});
  EXPECT_FALSE(link.connected());
  EXPECT_FALSE(link.publish("t", "{}"));
}

// The link under a real ShadowSync: connecting subscribes the synced thing's shadow topics next
// to the Source=cloud subjects, in one upstream set, and requests a full sync.
TEST(CloudShadowLinkTest, ShadowSyncSubscribesThroughTheUnion) {
  FakeCloud c;
  CloudShadowLink link(c.port());
  shadow::MemoryShadowStore store;
  shadow::ShadowService svc(
      {}, store, [](const std::string&, const std::string&) {}, Log());
  shadow::ShadowSync sync(svc, link, Log());
  link.setCloudFilters({"cmd/#"}, false);
  sync.setSyncedThings({"Lamp"});
  EXPECT_EQ(c.last(), (std::vector<std::string>{"cmd/#"}));  // not connected: nothing yet
  c.up = true;
  sync.onCloudConnected();
  auto f = c.last();
  EXPECT_EQ(f.front(), "cmd/#");
  EXPECT_TRUE(has(f, "$aws/things/Lamp/shadow/get/accepted"));
  EXPECT_TRUE(has(f, "$aws/things/Lamp/shadow/update/documents"));
  EXPECT_TRUE(has(f, "$aws/things/Lamp/shadow/delete/accepted"));
  ASSERT_FALSE(c.sent.empty());
  EXPECT_EQ(c.sent.back().first, "$aws/things/Lamp/shadow/get");
  // A local update of the synced thing is pushed to the cloud's update topic.
  c.sent.clear();
  sync.onCloudMessage("$aws/things/Lamp/shadow/get/rejected",
                      R"({"code":404,"message":"No shadow exists with name: 'Lamp'"})");
  auto r = svc.handle("Lamp", shadow::ShadowOp::kUpdate, R"({"state":{"reported":{"on":true}}})",
                      shadow::Origin::kMqtt);
  ASSERT_TRUE(r.accepted) << r.payload;
  ASSERT_FALSE(c.sent.empty());
  EXPECT_EQ(c.sent.back().first, "$aws/things/Lamp/shadow/update");
  EXPECT_NE(c.sent.back().second.find("\"on\":true"), std::string::npos) << c.sent.back().second;
  // Undeploying the thing drops its filters.
  sync.setSyncedThings({});
  link.retainThings({});
  EXPECT_EQ(c.last(), (std::vector<std::string>{"cmd/#"}));
}

}  // namespace
}  // namespace evg::daemon
