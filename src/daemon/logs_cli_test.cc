#include "daemon/logs_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace evg::daemon {
namespace {

namespace fs = std::filesystem;

TEST(LogsCliTest, LineTimesAndSince) {
  auto t = lineTimeMs("[2026-12-04T18:24:02.123+01:00][INFO]-runtime: x");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, 1796405042123LL);
  EXPECT_EQ(lineTimeMs("[2026-12-04T17:24:02.123Z][INFO]-runtime: x"), *t);
  EXPECT_FALSE(lineTimeMs("  continuation").has_value());
  EXPECT_FALSE(lineTimeMs("[not a time][INFO]-x").has_value());
  const int64_t now = 1'000'000'000'000;
  EXPECT_EQ(*parseSince("30s", now), now - 30'000);
  EXPECT_EQ(*parseSince("10m", now), now - 600'000);
  EXPECT_EQ(*parseSince("2h", now), now - 7'200'000);
  EXPECT_EQ(*parseSince("1d", now), now - 86'400'000);
  EXPECT_EQ(*parseSince("2026-12-04T17:24:02Z", now), 1796405042000LL);
  for (const char* bad : {"", "m", "10x", "yesterday", "-5m", "2026-13-01T00:00:00"}) {
    auto r = parseSince(bad, now);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_NE(r.status().message().find("--since"), std::string::npos);
  }
}

TEST(LogsCliTest, RotatedFilesOldestFirstAndMerged) {
  char tmpl[] = "/tmp/evg-logs-XXXXXX";
  fs::path root = mkdtemp(tmpl);
  fs::create_directories(root / "var/log/system");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(root / "var/log/system" / name) << text;
  };
  write("runtime.log.2", "[2026-01-01T00:00:01.000Z][INFO]-runtime: a\n");
  write("runtime.log.1", "[2026-01-01T00:00:03.000Z][INFO]-runtime: c\n  trace line\n");
  write("runtime.log", "[2026-01-01T00:00:05.000Z][INFO]-runtime: e\n");
  write("GGConnManager.log",
        "[2026-01-01T00:00:02.000Z][INFO]-GGConnManager: b\n"
        "[2026-01-01T00:00:04.000Z][INFO]-GGConnManager: d\n");
  LogsOptions o;
  o.root = root.string();
  std::ostringstream out, err;
  ASSERT_EQ(runLogs(o, out, err), 0) << err.str();
  EXPECT_EQ(out.str(),
            "[2026-01-01T00:00:01.000Z][INFO]-runtime: a\n"
            "[2026-01-01T00:00:02.000Z][INFO]-GGConnManager: b\n"
            "[2026-01-01T00:00:03.000Z][INFO]-runtime: c\n"
            "  trace line\n"
            "[2026-01-01T00:00:04.000Z][INFO]-GGConnManager: d\n"
            "[2026-01-01T00:00:05.000Z][INFO]-runtime: e\n");
  o.component = "runtime";
  o.since_ms = *parseSince("2026-01-01T00:00:03Z", 0);
  o.lines = 2;
  std::ostringstream out2;
  ASSERT_EQ(runLogs(o, out2, err), 0);
  EXPECT_EQ(out2.str(), "  trace line\n[2026-01-01T00:00:05.000Z][INFO]-runtime: e\n");
  o.component = "nope";
  std::ostringstream err3;
  EXPECT_EQ(runLogs(o, out2, err3), 1);
  EXPECT_NE(err3.str().find("components: GGConnManager, runtime"), std::string::npos) << err3.str();
  fs::remove_all(root);
}

}  // namespace
}  // namespace evg::daemon
