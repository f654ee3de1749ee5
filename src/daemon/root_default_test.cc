#include "daemon/root_default.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace evg::daemon {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path p;
  TempDir() {
    char tmpl[] = "/tmp/evg-rootdef-XXXXXX";
    p = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(p); }
};

TEST(DefaultRootTest, EnvThenDefaultsFileThenPackageRoot) {
  TempDir t;
  std::string defaults = (t.p / "evergreen").string();
  std::string pkg = (t.p / "var-lib-evergreen").string();
  // Nothing configured, no package root: an error naming the ways to set it.
  auto r = resolveDefaultRoot(nullptr, defaults, pkg);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("--root DIR is required"), std::string::npos);
  // The package root once it exists.
  fs::create_directories(pkg);
  r = resolveDefaultRoot(nullptr, defaults, pkg);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->root, pkg);
  // The defaults file beats it (comments, export, quotes; the last assignment wins).
  std::ofstream(defaults)
      << "# Evergreen\nEVERGREEN_ROOT=/ignored\n  export EVERGREEN_ROOT=\"/greengrass\"\n"
         "OTHER=1\n";
  r = resolveDefaultRoot(nullptr, defaults, pkg);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->root, "/greengrass");
  EXPECT_EQ(r->source, defaults);
  // An empty environment value does not count; a set one beats everything.
  EXPECT_EQ(resolveDefaultRoot("", defaults, pkg)->root, "/greengrass");
  EXPECT_EQ(resolveDefaultRoot("/srv/gg", defaults, pkg)->root, "/srv/gg");
  EXPECT_EQ(readDefaultsVar(defaults, "OTHER"), "1");
  EXPECT_FALSE(readDefaultsVar(defaults, "MISSING").has_value());
}

}  // namespace
}  // namespace evg::daemon
