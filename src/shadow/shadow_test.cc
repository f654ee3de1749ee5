#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "shadow/shadow_document.h"
#include "shadow/shadow_service.h"
#include "shadow/shadow_store.h"
#include "shadow/shadow_sync.h"

namespace evg::shadow {
namespace {

json J(std::string_view s) { return json::parse(s); }

struct Pub {
  std::string topic;
  json payload;
};

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest()
      : svc_(
            opts(), store_,
            [this](const std::string& t, const std::string& p) {
              pubs_.push_back({t, json::parse(p)});
            },
            Log()) {}
  static ShadowServiceOptions opts() {
    ShadowServiceOptions o;
    o.now_s = [] { return int64_t{1700000000}; };
    return o;
  }
  ShadowReply update(std::string_view thing, std::string_view body, Origin o = Origin::kSdk) {
    return svc_.handle(std::string(thing), ShadowOp::kUpdate, body, o);
  }
  const Pub* find(std::string_view topic) const {
    for (const auto& p : pubs_)
      if (p.topic == topic) return &p;
    return nullptr;
  }
  MemoryShadowStore store_;
  std::vector<Pub> pubs_;
  ShadowService svc_;
};

TEST(ShadowTopicTest, ParsesRequestTopicsOnly) {
  auto t = parseShadowRequestTopic("$aws/things/lamp-1/shadow/update");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->thing, "lamp-1");
  EXPECT_EQ(t->op, ShadowOp::kUpdate);
  EXPECT_TRUE(parseShadowRequestTopic("$aws/things/x/shadow/get"));
  EXPECT_FALSE(parseShadowRequestTopic("$aws/things/x/shadow/update/accepted"));
  EXPECT_FALSE(parseShadowRequestTopic("$aws/things/x/shadow/name/n/update"));
  EXPECT_FALSE(parseShadowRequestTopic("things/x/shadow/get"));
  EXPECT_FALSE(parseShadowRequestTopic("$aws/things//shadow/get"));
  EXPECT_EQ(shadowTopic("a", ShadowOp::kDelete, "accepted"),
            "$aws/things/a/shadow/delete/accepted");
}

TEST(DeltaTest, Cases) {
  EXPECT_EQ(computeDelta(J(R"({"a":1})"), J(R"({"a":1})")), json::object());
  EXPECT_EQ(computeDelta(J(R"({"a":1})"), J(R"({"a":2})")), J(R"({"a":1})"));
  EXPECT_EQ(computeDelta(J(R"({"a":1,"b":2})"), J(R"({})")), J(R"({"a":1,"b":2})"));
  // reported-only keys never appear in the delta
  EXPECT_EQ(computeDelta(J(R"({})"), J(R"({"x":1})")), json::object());
  // nested objects compare key by key
  EXPECT_EQ(computeDelta(J(R"({"o":{"a":1,"b":2}})"), J(R"({"o":{"a":1,"b":3}})")),
            J(R"({"o":{"b":2}})"));
  // arrays compare as a whole
  EXPECT_EQ(computeDelta(J(R"({"l":[1,2]})"), J(R"({"l":[1,2]})")), json::object());
  EXPECT_EQ(computeDelta(J(R"({"l":[1,2]})"), J(R"({"l":[2,1]})")), J(R"({"l":[1,2]})"));
  // type change
  EXPECT_EQ(computeDelta(J(R"({"o":{"a":1}})"), J(R"({"o":5})")), J(R"({"o":{"a":1}})"));
}

TEST_F(ServiceTest, UpdateGetMetadataVersionAndToken) {
  auto r =
      update("t1", R"({"state":{"desired":{"color":"red","cfg":{"a":1}}},"clientToken":"c1"})");
  ASSERT_TRUE(r.accepted) << r.payload;
  json a = json::parse(r.payload);
  EXPECT_EQ(a["version"], 1);
  EXPECT_EQ(a["clientToken"], "c1");
  EXPECT_EQ(a["state"]["desired"]["color"], "red");
  EXPECT_EQ(a["metadata"]["desired"]["cfg"]["a"]["timestamp"], 1700000000);
  EXPECT_EQ(a["timestamp"], 1700000000);
  ASSERT_TRUE(find("$aws/things/t1/shadow/update/accepted"));
  const Pub* d = find("$aws/things/t1/shadow/update/delta");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->payload["state"], J(R"({"color":"red","cfg":{"a":1}})"));
  EXPECT_EQ(d->payload["version"], 1);
  const Pub* docs = find("$aws/things/t1/shadow/update/documents");
  ASSERT_TRUE(docs);
  EXPECT_FALSE(docs->payload.contains("previous"));
  EXPECT_EQ(docs->payload["current"]["version"], 1);

  pubs_.clear();
  r = update("t1", R"({"state":{"reported":{"color":"red","cfg":{"a":1}}}})");
  ASSERT_TRUE(r.accepted);
  EXPECT_FALSE(find("$aws/things/t1/shadow/update/delta")) << "reported-only update, no delta";
  EXPECT_EQ(find("$aws/things/t1/shadow/update/documents")->payload["previous"]["version"], 1);

  auto g = svc_.handle("t1", ShadowOp::kGet, "", Origin::kSdk);
  ASSERT_TRUE(g.accepted);
  json gj = json::parse(g.payload);
  EXPECT_EQ(gj["version"], 2);
  EXPECT_FALSE(gj["state"].contains("delta"));
  EXPECT_EQ(gj["state"]["reported"]["color"], "red");
  EXPECT_EQ(gj["metadata"]["reported"]["color"]["timestamp"], 1700000000);
}

TEST_F(ServiceTest, NullDeletesKeysAndSections) {
  ASSERT_TRUE(update("t", R"({"state":{"desired":{"a":1,"b":{"c":2,"d":3}},"reported":{"z":1}}})")
                  .accepted);
  ASSERT_TRUE(update("t", R"({"state":{"desired":{"a":null,"b":{"c":null}}}})").accepted);
  auto doc = svc_.document("t");
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["state"]["desired"], J(R"({"b":{"d":3}})"));
  EXPECT_FALSE((*doc)["metadata"]["desired"].contains("a"));
  ASSERT_TRUE(update("t", R"({"state":{"reported":null}})").accepted);
  doc = svc_.document("t");
  EXPECT_FALSE((*doc)["state"].contains("reported"));
  json g = json::parse(svc_.handle("t", ShadowOp::kGet, "", Origin::kSdk).payload);
  EXPECT_EQ(g["state"]["delta"], J(R"({"b":{"d":3}})"));
}

TEST_F(ServiceTest, VersionConflict409) {
  ASSERT_TRUE(update("t", R"({"state":{"reported":{"a":1}}})").accepted);
  auto ok = update("t", R"({"state":{"reported":{"a":2}},"version":1})");
  EXPECT_TRUE(ok.accepted) << ok.payload;
  auto r = update("t", R"({"state":{"reported":{"a":3}},"version":1,"clientToken":"tok"})");
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.code, 409);
  json e = json::parse(r.payload);
  EXPECT_EQ(e["code"], 409);
  EXPECT_EQ(e["message"], "Version conflict");
  EXPECT_EQ(e["clientToken"], "tok");
  EXPECT_TRUE(e.contains("timestamp"));
  EXPECT_EQ((*svc_.document("t"))["state"]["reported"]["a"], 2);
}

TEST_F(ServiceTest, BadRequests400) {
  auto code = [&](std::string_view body) { return update("t", body).code; };
  EXPECT_EQ(code(""), 400);
  EXPECT_EQ(code("not json"), 400);
  EXPECT_EQ(code("[1]"), 400);
  EXPECT_EQ(code(R"({"desired":{}})"), 400);
  EXPECT_EQ(code(R"({"state":5})"), 400);
  EXPECT_EQ(code(R"({"state":{"delta":{}}})"), 400);
  EXPECT_EQ(code(R"({"state":{"desired":3}})"), 400);
  EXPECT_EQ(code(R"({"state":{"desired":{}},"version":"x"})"), 400);
  EXPECT_EQ(code(R"({"state":{"desired":{}},"clientToken":5})"), 400);
  EXPECT_EQ(code(R"({"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}})"), 400);
  EXPECT_EQ(json::parse(update("t", "").payload)["message"], "Missing update payload");
  EXPECT_EQ(update("bad/name", R"({"state":{}})").code, 400);
  EXPECT_FALSE(svc_.document("t"));
}

TEST_F(ServiceTest, Oversize413) {
  std::string big(9000, 'x');
  auto r = update("t", R"({"state":{"reported":{"blob":")" + big + "\"}}}");
  EXPECT_EQ(r.code, 413);
  EXPECT_EQ(json::parse(r.payload)["message"], "The payload exceeds the maximum size allowed");
  // Each request fits, the accumulated state does not.
  std::string half(5000, 'y');
  ASSERT_TRUE(update("t", R"({"state":{"reported":{"a":")" + half + "\"}}}").accepted);
  EXPECT_EQ(update("t", R"({"state":{"reported":{"b":")" + half + "\"}}}").code, 413);
}

TEST_F(ServiceTest, DeleteThenGet404VersionContinues) {
  EXPECT_EQ(svc_.handle("t", ShadowOp::kGet, "", Origin::kSdk).code, 404);
  EXPECT_EQ(svc_.handle("t", ShadowOp::kDelete, "", Origin::kSdk).code, 404);
  ASSERT_TRUE(update("t", R"({"state":{"reported":{"a":1}}})").accepted);
  ASSERT_TRUE(update("t", R"({"state":{"reported":{"a":2}}})").accepted);
  auto d = svc_.handle("t", ShadowOp::kDelete, "", Origin::kSdk);
  ASSERT_TRUE(d.accepted);
  EXPECT_EQ(json::parse(d.payload)["version"], 2);
  auto g = svc_.handle("t", ShadowOp::kGet, "", Origin::kSdk);
  EXPECT_EQ(g.code, 404);
  json e = json::parse(g.payload);
  EXPECT_EQ(e["code"], 404);
  EXPECT_NE(e["message"].get<std::string>().find("No shadow exists"), std::string::npos);
  auto u = update("t", R"({"state":{"reported":{"a":3}}})");
  EXPECT_EQ(json::parse(u.payload)["version"], 3);
}

TEST_F(ServiceTest, MqttPathPublishesAcceptedAndRejected) {
  EXPECT_FALSE(svc_.handleMqtt("$aws/things/t/shadow/update/accepted", "{}"));
  EXPECT_TRUE(svc_.handleMqtt("$aws/things/t/shadow/get", R"({"clientToken":"g1"})"));
  const Pub* rej = find("$aws/things/t/shadow/get/rejected");
  ASSERT_TRUE(rej);
  EXPECT_EQ(rej->payload["code"], 404);
  EXPECT_EQ(rej->payload["clientToken"], "g1");
  EXPECT_TRUE(svc_.handleMqtt("$aws/things/t/shadow/update", R"({"state":{"desired":{"x":1}}})"));
  EXPECT_TRUE(find("$aws/things/t/shadow/update/accepted"));
  EXPECT_TRUE(find("$aws/things/t/shadow/update/delta"));
  EXPECT_TRUE(svc_.handleMqtt("$aws/things/t/shadow/get", ""));
  EXPECT_EQ(find("$aws/things/t/shadow/get/accepted")->payload["state"]["delta"]["x"], 1);
}

TEST_F(ServiceTest, SdkGetAndRejectionsAreNotPublished) {
  svc_.handle("t", ShadowOp::kGet, "", Origin::kSdk);
  update("t", "garbage");
  EXPECT_TRUE(pubs_.empty());
}

TEST_F(ServiceTest, FailedSaveAnswers500AndKeepsState) {
  ASSERT_TRUE(update("t", R"({"state":{"reported":{"a":1}}})").accepted);
  store_.failNextSaveForTest();
  auto r = update("t", R"({"state":{"reported":{"a":2}}})");
  EXPECT_EQ(r.code, 500);
  EXPECT_EQ((*svc_.document("t"))["state"]["reported"]["a"], 1);
  EXPECT_EQ((*svc_.document("t"))["version"], 1);
}

std::string tempPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          ("evg_shadow_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(SqliteStoreTest, PersistsAcrossReopen) {
  std::string dir = tempPath("db");
  std::filesystem::remove_all(dir);
  std::string path = dir + "/sub/shadows.db";
  {
    auto s = SqliteShadowStore::open(path);
    ASSERT_TRUE(s) << s.status().toString();
    ShadowService svc(
        {}, **s, [](const std::string&, const std::string&) {}, Log());
    ASSERT_TRUE(
        svc.handle("a", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk)
            .accepted);
    ASSERT_TRUE(
        svc.handle("b", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk)
            .accepted);
    ASSERT_TRUE(svc.handle("b", ShadowOp::kDelete, "", Origin::kSdk).accepted);
    ASSERT_TRUE(svc.setSyncState("a", R"({"cloudVersion":7})"));
  }
  auto s = SqliteShadowStore::open(path);
  ASSERT_TRUE(s);
  ShadowService svc(
      {}, **s, [](const std::string&, const std::string&) {}, Log());
  auto doc = svc.document("a");
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["state"]["reported"]["v"], 1);
  EXPECT_FALSE(svc.document("b"));
  EXPECT_EQ(svc.syncState("a"), R"({"cloudVersion":7})");
  auto u = svc.handle("b", ShadowOp::kUpdate, R"({"state":{"reported":{"v":2}}})", Origin::kSdk);
  EXPECT_EQ(json::parse(u.payload)["version"], 2) << "version survives delete and restart";
  auto things = (*s)->things();
  ASSERT_TRUE(things);
  EXPECT_EQ(things->size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(SqliteStoreTest, ClearAllRemovesEveryShadowDurably) {
  std::string dir = tempPath("clear");
  std::filesystem::remove_all(dir);
  std::string path = dir + "/shadows.db";
  {
    auto s = SqliteShadowStore::open(path);
    ASSERT_TRUE(s) << s.status().toString();
    ShadowService svc(
        {}, **s, [](const std::string&, const std::string&) {}, Log());
    ASSERT_TRUE(
        svc.handle("a", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk)
            .accepted);
    ASSERT_TRUE(svc.document("a"));
    ASSERT_TRUE(svc.clearAll());
    EXPECT_FALSE(svc.document("a")) << "the cache is cleared too";
    auto u = svc.handle("a", ShadowOp::kUpdate, R"({"state":{"reported":{"v":2}}})", Origin::kSdk);
    EXPECT_EQ(json::parse(u.payload)["version"], 1) << "versions restart after a reset";
    ASSERT_TRUE(svc.clearAll());
  }
  auto s = SqliteShadowStore::open(path);
  ASSERT_TRUE(s);
  auto things = (*s)->things();
  ASSERT_TRUE(things);
  EXPECT_TRUE(things->empty());
  std::filesystem::remove_all(dir);
}

TEST(SqliteStoreTest, UnwritablePathIsIoError) {
  auto s = SqliteShadowStore::open("/proc/evg-no/shadows.db");
  EXPECT_FALSE(s);
}

// ------------------------------------------------------------------ sync

class FakeLink : public ShadowCloudLink {
 public:
  bool connected() const override { return up; }
  Status publish(const std::string& topic, const std::string& payload) override {
    if (!up) return Status::retry("offline");
    sent.push_back({topic, json::parse(payload)});
    return Status::ok();
  }
  Status subscribe(const std::string& filter) override {
    subs.push_back(filter);
    return Status::ok();
  }
  bool up = false;
  std::vector<Pub> sent;
  std::vector<std::string> subs;
};

TEST(Merge3Test, ConflictRule) {
  auto b = std::optional<json>(J(R"({"a":1,"b":1,"c":1})"));
  auto l = std::optional<json>(J(R"({"a":2,"b":1,"c":5})"));
  auto c = std::optional<json>(J(R"({"a":1,"b":3,"c":6,"d":1})"));
  EXPECT_EQ(*ShadowSync::merge3(b, l, c, true), J(R"({"a":2,"b":3,"c":6,"d":1})"));
  EXPECT_EQ(*ShadowSync::merge3(b, l, c, false), J(R"({"a":2,"b":3,"c":5,"d":1})"));
  // key removed locally, untouched in the cloud -> removed
  EXPECT_EQ(
      *ShadowSync::merge3(J(R"({"a":1,"b":1})"), J(R"({"b":1})"), J(R"({"a":1,"b":1})"), true),
      J(R"({"b":1})"));
  EXPECT_EQ(ShadowSync::diffPatch(J(R"({"a":1,"o":{"x":1,"y":2}})"), J(R"({"o":{"x":1,"y":3}})")),
            J(R"({"a":null,"o":{"y":3}})"));
}

class SyncTest : public ::testing::Test {
 protected:
  SyncTest()
      : svc_(
            {}, store_,
            [this](const std::string& t, const std::string& p) {
              local_.push_back({t, json::parse(p)});
            },
            Log()),
        sync_(svc_, link_, Log()) {
    sync_.setSyncedThings({"dev"});
  }
  json localState() {
    auto d = svc_.document("dev");
    return d ? stateOf(*d) : json::object();
  }
  void cloudDocuments(const json& state, int version) {
    sync_.onCloudMessage("$aws/things/dev/shadow/update/documents",
                         json{{"current", {{"state", state}, {"version", version}}}}.dump());
  }
  MemoryShadowStore store_;
  std::vector<Pub> local_;
  FakeLink link_;
  ShadowService svc_;
  ShadowSync sync_;
};

TEST_F(SyncTest, ConnectSubscribesAndRequestsFullSync) {
  link_.up = true;
  sync_.onCloudConnected();
  EXPECT_NE(
      std::find(link_.subs.begin(), link_.subs.end(), "$aws/things/dev/shadow/update/documents"),
      link_.subs.end());
  ASSERT_FALSE(link_.sent.empty());
  EXPECT_EQ(link_.sent.back().topic, "$aws/things/dev/shadow/get");
  // Not synced things are ignored.
  EXPECT_FALSE(sync_.onCloudMessage("$aws/things/other/shadow/update/documents", "{}"));
}

TEST_F(SyncTest, LocalUpdatePushedWhenConnected) {
  link_.up = true;
  svc_.handle("dev", ShadowOp::kUpdate, R"({"state":{"reported":{"temp":20}}})", Origin::kSdk);
  ASSERT_EQ(link_.sent.size(), 1u);
  EXPECT_EQ(link_.sent[0].topic, "$aws/things/dev/shadow/update");
  EXPECT_EQ(link_.sent[0].payload["state"], J(R"({"reported":{"temp":20}})"));
  // Unsynced thing: nothing goes up.
  svc_.handle("other", ShadowOp::kUpdate, R"({"state":{"reported":{"temp":1}}})", Origin::kSdk);
  EXPECT_EQ(link_.sent.size(), 1u);
}

TEST_F(SyncTest, CloudDesiredPulledDown) {
  link_.up = true;
  cloudDocuments(J(R"({"desired":{"led":"on"}})"), 4);
  EXPECT_EQ(localState(), J(R"({"desired":{"led":"on"}})"));
  bool delta = false;
  for (const auto& p : local_) delta |= p.topic == "$aws/things/dev/shadow/update/delta";
  EXPECT_TRUE(delta) << "a pulled desired change produces the local delta";
  EXPECT_TRUE(link_.sent.empty()) << "nothing to push back";
  // A stale or repeated document is ignored.
  cloudDocuments(J(R"({"desired":{"led":"off"}})"), 4);
  EXPECT_EQ(localState()["desired"]["led"], "on");
  EXPECT_EQ(sync_.stats().ignored_stale, 1u);
}

TEST_F(SyncTest, OutageThenResumeMergesBothWays) {
  link_.up = true;
  sync_.onCloudConnected();
  sync_.onCloudMessage("$aws/things/dev/shadow/get/rejected", R"({"code":404,"message":"x"})");
  svc_.handle("dev", ShadowOp::kUpdate,
              R"({"state":{"desired":{"mode":"a"},"reported":{"mode":"a"}}})", Origin::kSdk);
  // cloud echoes our push
  cloudDocuments(J(R"({"desired":{"mode":"a"},"reported":{"mode":"a"}})"), 1);
  link_.sent.clear();

  link_.up = false;  // outage: local changes both sections, cloud changes both sections
  svc_.handle("dev", ShadowOp::kUpdate,
              R"({"state":{"desired":{"mode":"local"},"reported":{"mode":"local","t":1}}})",
              Origin::kSdk);
  EXPECT_TRUE(link_.sent.empty());
  link_.up = true;
  sync_.onCloudConnected();
  ASSERT_EQ(link_.sent.back().topic, "$aws/things/dev/shadow/get");
  sync_.onCloudMessage(
      "$aws/things/dev/shadow/get/accepted",
      R"({"state":{"desired":{"mode":"cloud"},"reported":{"mode":"cloud"}},"version":3})");
  // cloud wins desired, local wins reported, local-only key kept
  EXPECT_EQ(localState(), J(R"({"desired":{"mode":"cloud"},"reported":{"mode":"local","t":1}})"));
  ASSERT_EQ(link_.sent.back().topic, "$aws/things/dev/shadow/update");
  EXPECT_EQ(link_.sent.back().payload["state"], J(R"({"reported":{"mode":"local","t":1}})"));
}

TEST_F(SyncTest, UpdateSentJustBeforeOutageIsResent) {
  link_.up = true;
  sync_.onCloudMessage("$aws/things/dev/shadow/get/rejected", R"({"code":404,"message":"x"})");
  svc_.handle("dev", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk);
  // published but the cloud never got it (connection dropped before delivery)
  link_.sent.clear();
  sync_.onCloudConnected();
  sync_.onCloudMessage("$aws/things/dev/shadow/get/rejected", R"({"code":404,"message":"x"})");
  ASSERT_FALSE(link_.sent.empty());
  EXPECT_EQ(link_.sent.back().payload["state"], J(R"({"reported":{"v":1}})"));
  EXPECT_EQ(localState(), J(R"({"reported":{"v":1}})"));
}

TEST_F(SyncTest, DeletesBothWays) {
  link_.up = true;
  svc_.handle("dev", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk);
  svc_.handle("dev", ShadowOp::kDelete, "", Origin::kSdk);
  EXPECT_EQ(link_.sent.back().topic, "$aws/things/dev/shadow/delete");
  svc_.handle("dev", ShadowOp::kUpdate, R"({"state":{"reported":{"v":2}}})", Origin::kCloud);
  sync_.onCloudMessage("$aws/things/dev/shadow/delete/accepted", R"({"version":9})");
  EXPECT_FALSE(svc_.document("dev"));
}

TEST(SqliteStoreTest, DatabaseFilesAreOwnerOnly) {
  std::string dir = tempPath("perm");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = dir + "/shadows.db";
  auto mode = [](const std::string& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 0777);
  };
  {
    mode_t old = ::umask(022);
    auto s = SqliteShadowStore::open(path);
    ::umask(old);
    ASSERT_TRUE(s) << s.status().toString();
    ShadowService svc(
        {}, **s, [](const std::string&, const std::string&) {}, Log());
    ASSERT_TRUE(
        svc.handle("a", ShadowOp::kUpdate, R"({"state":{"reported":{"v":1}}})", Origin::kSdk)
            .accepted);
    EXPECT_EQ(mode(path), 0600);
    EXPECT_EQ(mode(path + "-wal"), 0600);
  }
  // A store left 0644 by an older build is narrowed when opened.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(SqliteShadowStore::open(path));
  EXPECT_EQ(mode(path), 0600);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg::shadow
