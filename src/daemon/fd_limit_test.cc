#include "daemon/fd_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace evg::daemon {
namespace {

// Restores the process's RLIMIT_NOFILE after each test (lowering the hard limit is one-way for
// an unprivileged process, so tests only lower it when running as root).
class FdLimitTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0); }
  void TearDown() override { setrlimit(RLIMIT_NOFILE, &saved_); }
  struct rlimit saved_ {};
};

TEST(FdsNeededTest, CountsEveryConnectionBoundPlusMargin) {
  config::CoreConfig c;
  const uint64_t base = fdsNeeded(c);
  c.evergreen.mqtt.max_connections += 10000;
  EXPECT_EQ(fdsNeeded(c), base + 10000);
  c.evergreen.ipc.max_connections += 7;
  c.evergreen.stream_manager.max_connections += 3;
  c.evergreen.metrics.max_connections += 1;
  EXPECT_EQ(fdsNeeded(c), base + 10011);
  EXPECT_GT(base, 1024u + 1024u);  // the defaults already exceed systemd's soft 1024
}

TEST_F(FdLimitTest, RaisesTheSoftLimitUpToNeededAndNeverLowersIt) {
  struct rlimit rl = saved_;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2048) GTEST_SKIP() << "hard limit too low";
  rl.rlim_cur = 1024;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  FdLimit r = raiseFdLimit(2000);
  EXPECT_EQ(r.soft_before, 1024u);
  EXPECT_EQ(r.soft, 2000u);
  EXPECT_FALSE(r.short_of_needed());
  EXPECT_NE(r.message.find("raised from 1024 to 2000"), std::string::npos) << r.message;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(rl.rlim_cur, 2000u);

  FdLimit again = raiseFdLimit(1500);  // already enough: unchanged, nothing to say
  EXPECT_EQ(again.soft, 2000u);
  EXPECT_TRUE(again.message.empty()) << again.message;
}

TEST_F(FdLimitTest, AHardLimitBelowNeededIsRaisedToAndNamedInTheWarning) {
  if (geteuid() != 0) GTEST_SKIP() << "lowering the hard limit needs root to undo";
  struct rlimit rl {
    512, 3000
  };
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  FdLimit r = raiseFdLimit(12000);
  EXPECT_EQ(r.soft, 3000u);
  EXPECT_EQ(r.hard, 3000u);
  EXPECT_TRUE(r.short_of_needed());
  EXPECT_NE(r.message.find("open-file limit 3000 (hard 3000) is below the 12000"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("LimitNOFILE="), std::string::npos) << r.message;
}

}  // namespace
}  // namespace evg::daemon
