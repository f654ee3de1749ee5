#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "functions/arn.h"
#include "functions/function_cli.h"
#include "functions/function_store.h"

namespace evg::functions {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/evg_functions_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void writeFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << data;
}

TEST(FunctionArnTest, ParsesQualifiedAndSystemArns) {
  auto a = parseFunctionArn("arn:aws:lambda:us-east-1:123456789012:function:hello:7");
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->region, "us-east-1");
  EXPECT_EQ(a->account, "123456789012");
  EXPECT_EQ(a->name, "hello");
  EXPECT_EQ(a->qualifier, "7");
  EXPECT_EQ(a->unqualified(), "arn:aws:lambda:us-east-1:123456789012:function:hello");
  auto sys = parseFunctionArn("arn:aws:lambda:::function:GGSecretManager:1");
  ASSERT_TRUE(sys.isOk());
  EXPECT_EQ(sys->name, "GGSecretManager");
  EXPECT_TRUE(parseFunctionArn("arn:aws:lambda:::function:GGRouter").isOk());
  EXPECT_TRUE(parseFunctionArn("arn:aws:lambda:r:a:function:f:$LATEST").isOk());
}

TEST(FunctionArnTest, RejectsMalformedArnsNamingTheProblem) {
  auto a = parseFunctionArn("arn:aws:s3:::function:x");
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("service must be lambda"), std::string::npos);
  EXPECT_FALSE(parseFunctionArn("hello").isOk());
  EXPECT_FALSE(parseFunctionArn("arn:aws:lambda:r:a:function:bad name:1").isOk());
  EXPECT_FALSE(parseFunctionArn("arn:aws:lambda:r:a:function:f:1:2").isOk());
  EXPECT_FALSE(isValidAliasName("123"));
  EXPECT_TRUE(isValidAliasName("prod"));
  EXPECT_FALSE(isVersionNumber("01"));
}

class FunctionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    code_ = tmp_.path() + "/src";
    writeFile(code_ + "/app.py", "def handler(e, c):\n    return e\n");
    FunctionStoreOptions o;
    o.root_dir = tmp_.path() + "/root";
    o.region = "us-east-1";
    o.account = "123456789012";
    store_ = std::make_unique<FunctionStore>(o);
  }
  CreateFunctionRequest req(const std::string& name) {
    CreateFunctionRequest r;
    r.config.name = name;
    r.config.runtime = "python3.8";
    r.config.handler = "app.handler";
    r.config.env = {{"A", "1"}};
    r.code_dir = code_;
    return r;
  }
  TempDir tmp_;
  std::string code_;
  std::unique_ptr<FunctionStore> store_;
};

TEST_F(FunctionStoreTest, CreatePublishAliasResolve) {
  auto latest = store_->create(req("hello"));
  ASSERT_TRUE(latest.isOk()) << latest.status().toString();
  EXPECT_EQ(latest->version, "$LATEST");
  EXPECT_FALSE(latest->code_sha256.empty());
  EXPECT_TRUE(fs::exists(latest->code_dir + "/app.py"));

  auto v1 = store_->publishVersion("hello");
  ASSERT_TRUE(v1.isOk()) << v1.status().toString();
  EXPECT_EQ(v1->version, "1");
  EXPECT_EQ(v1->arn, "arn:aws:lambda:us-east-1:123456789012:function:hello:1");
  EXPECT_TRUE(fs::exists(v1->code_dir + "/app.py"));
  EXPECT_NE(v1->code_dir, latest->code_dir);
  // Versions are immutable copies: editing $LATEST's code does not change version 1.
  writeFile(latest->code_dir + "/app.py", "changed");
  auto v2 = store_->publishVersion("hello");
  ASSERT_TRUE(v2.isOk());
  EXPECT_EQ(v2->version, "2");
  std::ifstream in(v1->code_dir + "/app.py");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "def handler(e, c):");

  auto alias = store_->createAlias("hello", "prod", "1");
  ASSERT_TRUE(alias.isOk()) << alias.status().toString();
  EXPECT_EQ(alias->arn, "arn:aws:lambda:us-east-1:123456789012:function:hello:prod");

  auto r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:prod");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->alias, "prod");
  EXPECT_EQ(r->version.version, "1");
  EXPECT_EQ(r->version.config.handler, "app.handler");
  EXPECT_EQ(r->version.config.env.at("A"), "1");

  ASSERT_TRUE(store_->updateAlias("hello", "prod", "2").isOk());
  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:prod");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->version.version, "2");

  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:2");
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->alias.empty());
}

TEST_F(FunctionStoreTest, ResolveRefusesLatestUnqualifiedAndUnknown) {
  ASSERT_TRUE(store_->create(req("hello")).isOk());
  auto r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("$LATEST"), std::string::npos);
  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("no qualifier"), std::string::npos);
  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:nope:1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:9");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("no version 9"), std::string::npos);
  EXPECT_FALSE(store_->createAlias("hello", "live", "$LATEST").isOk());
  ASSERT_TRUE(store_->publishVersion("hello").isOk());
  EXPECT_TRUE(store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:1").isOk());
  r = store_->resolve("arn:aws:lambda:eu-west-1:123456789012:function:hello:1");
  EXPECT_EQ(r.status().code(), Code::kNotFound);  // other region
}

TEST_F(FunctionStoreTest, DeleteRules) {
  ASSERT_TRUE(store_->create(req("hello")).isOk());
  EXPECT_EQ(store_->create(req("hello")).status().code(), Code::kConflict);
  ASSERT_TRUE(store_->publishVersion("hello").isOk());
  ASSERT_TRUE(store_->createAlias("hello", "prod", "1").isOk());
  EXPECT_EQ(store_->remove("hello", "1").code(), Code::kConflict);  // alias points at it
  EXPECT_FALSE(store_->remove("hello", "$LATEST").isOk());
  EXPECT_TRUE(store_->remove("hello", "prod").isOk());
  EXPECT_TRUE(store_->remove("hello", "1").isOk());
  EXPECT_EQ(store_->listVersions("hello")->size(), 1u);
  EXPECT_TRUE(store_->remove("hello").isOk());
  EXPECT_EQ(store_->list()->size(), 0u);
  EXPECT_EQ(store_->remove("hello").code(), Code::kNotFound);
}

TEST_F(FunctionStoreTest, CreateValidatesInput) {
  auto r = req("bad name");
  EXPECT_EQ(store_->create(r).status().code(), Code::kInvalid);
  r = req("ok");
  r.config.runtime = "cobol";
  auto res = store_->create(r);
  ASSERT_FALSE(res.isOk());
  EXPECT_NE(res.status().message().find("cobol"), std::string::npos);
  r = req("ok");
  r.code_dir.clear();
  r.zip_path = tmp_.path() + "/missing.zip";
  EXPECT_EQ(store_->create(r).status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(tmp_.path() + "/root/functions/ok"));  // no half-created function
}

TEST_F(FunctionStoreTest, ExtractsZipPackages) {
  std::string zip = tmp_.path() + "/pkg.zip";
  std::string cmd = "cd " + code_ + " && /usr/bin/python3 -m zipfile -c " + zip + " app.py";
  ASSERT_EQ(system(cmd.c_str()), 0);
  auto r = req("zipped");
  r.code_dir.clear();
  r.zip_path = zip;
  auto v = store_->create(r);
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_TRUE(fs::exists(v->code_dir + "/app.py"));
  EXPECT_GT(v->code_size, 0u);
  // A file that is not a zip is refused.
  writeFile(tmp_.path() + "/bad.zip", "not a zip");
  r = req("bad");
  r.code_dir.clear();
  r.zip_path = tmp_.path() + "/bad.zip";
  EXPECT_FALSE(store_->create(r).isOk());
}

int runCli(std::vector<std::string> args, std::string* out, std::string* err) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream o, e;
  int rc = runFunctionCli(static_cast<int>(argv.size()), argv.data(), o, e);
  *out = o.str();
  *err = e.str();
  return rc;
}

TEST(FunctionCliTest, CreatePublishAliasListDelete) {
  TempDir tmp;
  std::string root = tmp.path() + "/root";
  writeFile(root + "/config/config.json",
            R"({"coreThing":{"thingArn":"arn:aws:iot:eu-west-1:111122223333:thing/Core"}})");
  writeFile(tmp.path() + "/src/app.py", "x = 1\n");
  std::string out, err;
  ASSERT_EQ(runCli({"function", "create", "--root", root, "--function-name", "f", "--runtime",
                    "python3.8", "--handler", "app.h", "--code-dir", tmp.path() + "/src",
                    "--environment", "Variables={K=V,X=y=z}"},
                   &out, &err),
            0)
      << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["FunctionName"], "f");
  EXPECT_EQ(j["Version"], "$LATEST");
  EXPECT_EQ(j["FunctionArn"], "arn:aws:lambda:eu-west-1:111122223333:function:f:$LATEST");
  EXPECT_EQ(j["Environment"]["Variables"]["X"], "y=z");

  ASSERT_EQ(runCli({"publish-version", "--root", root, "--function-name", "f"}, &out, &err), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["Version"], "1");
  ASSERT_EQ(runCli({"create-alias", "--root", root, "--function-name", "f", "--name", "live",
                    "--function-version", "1"},
                   &out, &err),
            0)
      << err;
  EXPECT_EQ(nlohmann::json::parse(out)["AliasArn"],
            "arn:aws:lambda:eu-west-1:111122223333:function:f:live");
  ASSERT_EQ(runCli({"list", "--root", root}, &out, &err), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["Functions"].size(), 1u);
  EXPECT_EQ(runCli({"update-alias", "--root", root, "--function-name", "f", "--name", "live",
                    "--function-version", "5"},
                   &out, &err),
            1);
  EXPECT_NE(err.find("no version 5"), std::string::npos);
  EXPECT_EQ(runCli({"delete", "--root", root, "--function-name", "f"}, &out, &err), 0);
  EXPECT_EQ(runCli({"delete", "--root", root, "--function-name", "f"}, &out, &err), 1);
}

TEST(FunctionCliTest, UsageErrors) {
  std::string out, err;
  EXPECT_EQ(runCli({"frobnicate", "--root", "/tmp/x"}, &out, &err), 2);
  EXPECT_NE(err.find("unknown command"), std::string::npos);
  EXPECT_EQ(runCli({"create", "--root", "/tmp/x", "--function-name", "f"}, &out, &err), 2);
  EXPECT_NE(err.find("--runtime"), std::string::npos);
  EXPECT_EQ(runCli({"create", "--root", "/tmp/x", "--function-name", "f", "--runtime", "python3.8",
                    "--handler", "a.b", "--code-dir", "/tmp", "--environment", "K=V"},
                   &out, &err),
            2);
  EXPECT_NE(err.find("--environment"), std::string::npos);
  EXPECT_EQ(runCli({"list"}, &out, &err), 2);
}

}  // namespace
}  // namespace evg::functions
