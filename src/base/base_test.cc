#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "base/host_paths.h"
#include "base/log.h"
#include "base/status.h"

namespace evg {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return Status::invalid("odd: " + std::to_string(x));
  return x / 2;
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::ok().isOk());
  Status s = Status::notFound("thing");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.toString(), "NotFound: thing");
  EXPECT_EQ(s.withContext("a.b: ").message(), "a.b: thing");
}

TEST(ResultTest, ValueOrStatus) {
  auto r = half(4);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, 2);
  auto e = half(3);
  ASSERT_FALSE(e.isOk());
  EXPECT_EQ(e.status().message(), "odd: 3");
}

TEST(HostPathsTest, NormalisedAndV1Rules) {
  EXPECT_EQ(lexicallyNormalPath("/dev/../etc/shadow"), "/etc/shadow");
  EXPECT_EQ(lexicallyNormalPath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(lexicallyNormalPath("/.."), "/");
  EXPECT_TRUE(deviceSourceProblem("/etc/shadow"));
  EXPECT_TRUE(deviceSourceProblem("/dev"));
  EXPECT_FALSE(deviceSourceProblem("/dev/ttyS0"));
  for (const char* bad : {"/", "/proc", "/sys", "/sys/class/gpio", "/dev", "/dev/shm", "/var",
                          "/var/run", "/var/lib", "/run"}) {
    EXPECT_TRUE(volumeSourceProblem(bad)) << bad;
  }
  for (const char* good : {"/srv/data", "/proc/net", "/var/lib/app", "/tmp/x", "/sysx"}) {
    EXPECT_FALSE(volumeSourceProblem(good)) << good;
  }
}

TEST(LogTest, ParseLevel) {
  EXPECT_EQ(*parseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_FALSE(parseLogLevel("LOUD").isOk());
}

TEST(RotatingFileTest, RotatesAndBoundsDisk) {
  auto dir = std::filesystem::temp_directory_path() / ("evg_rot_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "x.log").string();
  {
    RotatingFile f(path, 100, 2);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(f.append("0123456789012345678\n").isOk());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  size_t total = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) total += e.file_size();
  EXPECT_LE(total, 300u);
  std::filesystem::remove_all(dir);
}

TEST(RotatingFileTest, FilesAreNotWorldReadable) {
  auto dir = std::filesystem::temp_directory_path() / ("evg_perm_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string fresh = (dir / "new.log").string(), old = (dir / "old.log").string();
  { std::ofstream(old) << "x\n"; }
  ::chmod(old.c_str(), 0644);  // as older versions left user logs
  {
    RotatingFile a(fresh, 1000, 1), b(old, 1000, 1);
    ASSERT_TRUE(a.append("line\n").isOk());
    ASSERT_TRUE(b.append("line\n").isOk());
  }
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat(old.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  std::filesystem::remove_all(dir);
}

TEST(LoggerTest, WritesComponentFile) {
  auto dir = std::filesystem::temp_directory_path() / ("evg_log_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  {
    Logger logger(LogOptions{dir.string(), LogLevel::kInfo, false, 4096, 1});
    Log log(&logger, "runtime");
    log.debug("hidden");
    log.info("Created worker.");
  }
  std::ifstream in(dir / "runtime.log");
  std::string line;
  std::getline(in, line);
  EXPECT_NE(line.find("][INFO]-runtime: Created worker."), std::string::npos) << line;
  EXPECT_EQ(line[0], '[');
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg
