#include "daemon/function_specs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace evg::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kArn = "arn:aws:lambda:us-east-1:123456789012:function:Fn:1";

class FunctionSpecsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_function_specs_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ + "/src");
    std::ofstream(root_ + "/src/fn.py") << "def handler(e, c):\n    return e\n";
    store_ = std::make_unique<functions::FunctionStore>(
        functions::FunctionStoreOptions{root_, "us-east-1", "123456789012"});
    functions::CreateFunctionRequest req;
    req.config.name = "Fn";
    req.config.runtime = "python3.8";
    req.config.handler = "fn.handler";
    req.code_dir = root_ + "/src";
    ASSERT_TRUE(store_->create(req).isOk());
    auto v = store_->publishVersion("Fn");
    ASSERT_TRUE(v.isOk()) << v.status().toString();
    code_dir_ = v->code_dir;
    cfg_.root_dir = root_;
  }
  void TearDown() override { fs::remove_all(root_); }

  Result<std::vector<functions::FunctionSpec>> specs(const json& execution, const SpecOptions& o) {
    json fn = {{"Id", "f1"},
               {"FunctionArn", kArn},
               {"FunctionConfiguration", {{"Environment", {{"Execution", execution}}}}}};
    json gj = {{"FunctionDefinitionVersion", {{"Functions", json::array({fn})}}}};
    auto g = group::parseGroup(gj);
    if (!g) return g.status();
    return functionSpecsForGroup(*g, *store_, cfg_, nullptr, o);
  }

  std::string root_, code_dir_;
  config::CoreConfig cfg_;
  std::unique_ptr<functions::FunctionStore> store_;
};

TEST_F(FunctionSpecsTest, WithoutGgcUserFunctionsRunAsTheCore) {
  SpecOptions o;
  o.default_identity = std::nullopt;  // host without ggc_user
  auto s = specs({{"IsolationMode", "NoContainer"}}, o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_FALSE((*s)[0].run_as_uid.has_value());
  EXPECT_FALSE((*s)[0].run_as_gid.has_value());
}

TEST_F(FunctionSpecsTest, WithGgcUserFunctionsRunAsItUnlessRunAsSaysOtherwise) {
  SpecOptions o;
  o.default_identity = RunAsIdentity{4321, 4322};
  o.core_uid = 0;
  auto s = specs({{"IsolationMode", "NoContainer"}}, o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ((*s)[0].run_as_uid, 4321u);
  EXPECT_EQ((*s)[0].run_as_gid, 4322u);
  s = specs({{"IsolationMode", "NoContainer"}, {"RunAs", {{"Uid", 65534}, {"Gid", 65534}}}}, o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ((*s)[0].run_as_uid, 65534u);
  EXPECT_EQ((*s)[0].run_as_gid, 65534u);
}

TEST_F(FunctionSpecsTest, StoreCodeIsMadeReadableForTheRunAsIdentity) {
  SpecOptions o;
  o.default_identity = RunAsIdentity{4321, 4322};
  o.core_uid = 0;
  fs::create_directories(code_dir_ + "/sub");
  std::ofstream(code_dir_ + "/sub/tool") << "#!/bin/sh\n";
  ASSERT_EQ(chmod((code_dir_ + "/sub/tool").c_str(), 0700), 0);
  ASSERT_EQ(chmod((code_dir_ + "/sub").c_str(), 0700), 0);
  ASSERT_EQ(chmod(code_dir_.c_str(), 0700), 0);
  auto s = specs({{"IsolationMode", "NoContainer"}}, o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  auto mode = [](const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode(code_dir_), 0755u);
  EXPECT_EQ(mode(code_dir_ + "/sub"), 0755u);
  EXPECT_EQ(mode(code_dir_ + "/sub/tool"), 0755u);
  EXPECT_EQ(mode(code_dir_ + "/fn.py") & 0044u, 0044u);
}

TEST_F(FunctionSpecsTest, UnreadableCodeOutsideTheStoreIsRefusedNamingFunctionUidAndPath) {
  SpecOptions o;
  o.default_identity = RunAsIdentity{4321, 4322};
  o.core_uid = 0;
  cfg_.root_dir = "/elsewhere";  // the code is not this root's store copy: never chmodded
  ASSERT_EQ(chmod(code_dir_.c_str(), 0700), 0);
  auto s = specs({{"IsolationMode", "NoContainer"}}, o);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.status().code(), Code::kForbidden);
  const std::string m = s.status().message();
  EXPECT_NE(m.find("Functions[Id=f1]"), std::string::npos) << m;
  EXPECT_NE(m.find(kArn), std::string::npos) << m;
  EXPECT_NE(m.find("uid 4321"), std::string::npos) << m;
  EXPECT_NE(m.find(code_dir_), std::string::npos) << m;
  // A 0700 directory *above* the code is fine: the spawners reach the code without it.
  ASSERT_EQ(chmod(code_dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(root_.c_str(), 0700), 0);
  EXPECT_TRUE(specs({{"IsolationMode", "NoContainer"}}, o).isOk());
  // The core as a non-root user: no identity switch, nothing to check.
  ASSERT_EQ(chmod(code_dir_.c_str(), 0700), 0);
  o.core_uid = 1000;
  EXPECT_TRUE(specs({{"IsolationMode", "NoContainer"}}, o).isOk());
}

}  // namespace
}  // namespace evg::daemon
