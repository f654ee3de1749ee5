#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "base/host_paths.h"
#include "base/json.h"
#include "base/log.h"
#include "base/memo_cache.h"
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

TEST(ParseJsonTest, ParsesOrdinaryDocuments) {
  auto r = parseJson(R"({"a":{"b":[1,2,{"c":null}]},"d":"x","e":1.5,"f":true})");
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ((*r)["a"]["b"][2]["c"], nullptr);
  EXPECT_EQ((*r)["d"], "x");
  // The same key in different objects is not a duplicate.
  EXPECT_TRUE(parseJson(R"({"k":{"k":1},"j":{"k":2}})").isOk());
}

TEST(ParseJsonTest, SyntaxErrorNamesLineAndColumn) {
  auto r = parseJson("{\n  \"a\": }");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find("json.exception"), std::string::npos);
}

TEST(ParseJsonTest, RefusesDeepNestingWithoutCrashing) {
  // 100,000 levels used to overflow the stack in later recursive walks (issue 11 item 7).
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  auto r = parseJson(deep);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("nesting deeper than 64 levels"), std::string::npos)
      << r.status().message();
  std::string objs;
  for (int i = 0; i < 100000; ++i) objs += "{\"k\":";
  auto o = parseJson(objs);
  ASSERT_FALSE(o.isOk());
  EXPECT_NE(o.status().message().find("at k.k.k"), std::string::npos) << o.status().message();
  // Exactly the limit is fine; one more is refused.
  std::string ok64 = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(parseJson(ok64).isOk());
  std::string bad65 = std::string(65, '[') + std::string(65, ']');
  EXPECT_FALSE(parseJson(bad65).isOk());
  EXPECT_TRUE(parseJson(bad65, JsonLimits{100, false}).isOk());
}

TEST(ParseJsonTest, RefusesDuplicateKeysNamingThem) {
  auto r = parseJson(R"({"coreThing":{"ggHost":"a","ggMqttPort":8883,"ggMqttPort":1}})");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(), "duplicate key \"ggMqttPort\" in object at coreThing");
  auto top = parseJson(R"({"a":1,"a":2})");
  ASSERT_FALSE(top.isOk());
  EXPECT_EQ(top.status().message(), "duplicate key \"a\" in object at (top level)");
  auto arr = parseJson(R"({"x":[{"y":1},{"y":1,"y":2}]})");
  ASSERT_FALSE(arr.isOk());
  EXPECT_EQ(arr.status().message(), "duplicate key \"y\" in object at x[1]");
  auto allowed = parseJson(R"({"a":1,"a":2})", JsonLimits{kMaxJsonDepth, true});
  ASSERT_TRUE(allowed.isOk());
  EXPECT_EQ((*allowed)["a"], 2);
}

TEST(MemoCacheTest, RemembersBoundedAndSkipsLongKeys) {
  MemoCache<int> c(3, 8);
  EXPECT_EQ(c.find("a"), nullptr);
  c.put("a", 1);
  c.put("b", 2);
  ASSERT_NE(c.find("a"), nullptr);
  EXPECT_EQ(*c.find("a"), 1);
  c.put("123456789", 9);  // over max_key_bytes: not remembered
  EXPECT_EQ(c.find("123456789"), nullptr);
  EXPECT_EQ(c.size(), 2u);
  c.put("c", 3);
  EXPECT_EQ(c.size(), 3u);
  c.put("d", 4);  // full: cleared, then "d"
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.find("a"), nullptr);
  ASSERT_NE(c.find("d"), nullptr);
  EXPECT_EQ(*c.find("d"), 4);
}

}  // namespace
}  // namespace evg
