#include "daemon/deploy_history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/root.h"

namespace evg::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class DeployHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("evg_hist_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  DeployHistory history(size_t max = 50) { return DeployHistory({dir_.string(), max}); }
  static DeploymentRecord rec(std::string source, bool ok, std::string hash) {
    DeploymentRecord r;
    r.source = std::move(source);
    r.succeeded = ok;
    r.group_hash = std::move(hash);
    r.functions = {"arn:aws:lambda:us-east-1:123456789012:function:f:1"};
    if (!ok) r.message = "bad group";
    return r;
  }
  fs::path dir_;
};

TEST_F(DeployHistoryTest, EmptyHistoryIsEmptyNotAnError) {
  auto h = history();
  auto l = h.list();
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_TRUE(l->empty());
  EXPECT_EQ(h.get(1).status().code(), Code::kNotFound);
}

TEST_F(DeployHistoryTest, RecordsAssignIdsTimeAndKeepSuccessfulGroups) {
  auto h = history();
  json ga = {{"Subscriptions", json::array()}, {"name", "A"}};
  auto a = h.record(rec("deploy", true, groupHash(ga)), &ga);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->id, 1);
  EXPECT_TRUE(a->has_group);
  EXPECT_EQ(a->time.size(), 24u) << a->time;  // 2026-12-04T19:30:00.123Z
  json gb = {{"name", "B"}};
  auto b = h.record(rec("deploy", false, groupHash(gb)), &gb);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->id, 2);
  EXPECT_FALSE(b->has_group) << "a rejected deployment keeps no group";
  auto l = h.list();
  ASSERT_TRUE(l.isOk());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].group_hash, groupHash(ga));
  EXPECT_EQ((*l)[1].message, "bad group");
  EXPECT_FALSE((*l)[1].succeeded);
  auto g = h.groupOf(1);
  ASSERT_TRUE(g.isOk());
  EXPECT_EQ(*g, ga);
  EXPECT_EQ(h.groupOf(2).status().code(), Code::kNotFound);
  // A fresh object over the same directory sees the same history (it is on disk).
  EXPECT_EQ(history().get(2)->source, "deploy");
}

TEST_F(DeployHistoryTest, HashIsSha256OfCanonicalJson) {
  // sha256("{}") — the canonical dump of an empty object.
  EXPECT_EQ(groupHash(json::object()),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  // Key order does not matter (nlohmann sorts keys).
  EXPECT_EQ(groupHash(json::parse(R"({"b":1,"a":2})")), groupHash(json::parse(R"({"a":2,"b":1})")));
}

TEST_F(DeployHistoryTest, BoundedToMaxEntriesAndTrimmedGroupsRemoved) {
  auto h = history(3);
  json g = {{"n", 0}};
  for (int i = 1; i <= 5; ++i) {
    g["n"] = i;
    ASSERT_TRUE(h.record(rec("deploy", true, groupHash(g)), &g).isOk());
  }
  auto l = h.list();
  ASSERT_TRUE(l.isOk());
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ(l->front().id, 3);
  EXPECT_EQ(l->back().id, 5);
  EXPECT_FALSE(fs::exists(dir_ / "groups" / "1.json"));
  EXPECT_FALSE(fs::exists(dir_ / "groups" / "2.json"));
  EXPECT_TRUE(fs::exists(dir_ / "groups" / "3.json"));
  EXPECT_EQ(h.get(1).status().code(), Code::kNotFound);
  EXPECT_NE(h.get(1).status().message().find("last 3 kept"), std::string::npos);
  // Ids keep increasing after a trim.
  EXPECT_EQ(h.record(rec("reset", true, ""))->id, 6);
}

TEST_F(DeployHistoryTest, RollbackTargetPreviousOrGiven) {
  auto h = history();
  json ga = {{"name", "A"}}, gb = {{"name", "B"}}, gc = {{"name", "C"}};
  ASSERT_TRUE(h.record(rec("deploy", true, groupHash(ga)), &ga).isOk());   // 1
  ASSERT_TRUE(h.record(rec("deploy", true, groupHash(gb)), &gb).isOk());   // 2
  ASSERT_TRUE(h.record(rec("deploy", false, groupHash(gc)), &gc).isOk());  // 3 rejected
  // Active is B: the previous successful one with a different group is A.
  auto t = h.rollbackTarget(std::nullopt, groupHash(gb));
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->id, 1);
  // Active is A (after the rollback): previous is B.
  EXPECT_EQ(h.rollbackTarget(std::nullopt, groupHash(ga))->id, 2);
  // Given id.
  EXPECT_EQ(h.rollbackTarget(2, groupHash(gb))->id, 2);
  auto rejected = h.rollbackTarget(3, groupHash(gb));
  EXPECT_EQ(rejected.status().code(), Code::kInvalid);
  EXPECT_NE(rejected.status().message().find("was rejected"), std::string::npos);
  EXPECT_EQ(h.rollbackTarget(99, "").status().code(), Code::kNotFound);
  // Nothing different to go back to.
  auto h2 = DeployHistory({(dir_ / "other").string(), 50});
  ASSERT_TRUE(h2.record(rec("deploy", true, groupHash(ga)), &ga).isOk());
  EXPECT_EQ(h2.rollbackTarget(std::nullopt, groupHash(ga)).status().code(), Code::kNotFound);
}

TEST_F(DeployHistoryTest, CorruptLineIsAnErrorNamingFileAndLine) {
  auto h = history();
  json g = {{"name", "A"}};
  ASSERT_TRUE(h.record(rec("deploy", true, groupHash(g)), &g).isOk());
  {
    std::ofstream out(h.historyFile(), std::ios::app);
    out << "{not json\n";
  }
  auto l = h.list();
  ASSERT_FALSE(l.isOk());
  EXPECT_EQ(l.status().code(), Code::kCorruption);
  EXPECT_NE(l.status().message().find("history.jsonl:2"), std::string::npos)
      << l.status().message();
  // A record with a bad result value is named too.
  {
    std::ofstream out(h.historyFile(), std::ios::trunc);
    out << R"({"id":1,"source":"deploy","time":"t","groupHash":"h","functions":[],"result":"maybe"})"
        << "\n";
  }
  EXPECT_NE(h.list().status().message().find("result"), std::string::npos);
}

}  // namespace
}  // namespace evg::daemon
