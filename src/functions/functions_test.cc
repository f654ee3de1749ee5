#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "functions/arn.h"
#include "functions/function_cli.h"
#include "functions/function_store.h"
#include "functions/zip_builder_for_tests.h"

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
  // Versions are immutable copies: new $LATEST code does not change version 1.
  writeFile(code_ + "/app.py", "changed");
  ASSERT_TRUE(store_->updateFunctionCode("hello", "", code_).isOk());
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

std::string readAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t permsOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Issue 10 item 6: new code for an existing function, Lambda's publish rules, aliases untouched.
TEST_F(FunctionStoreTest, UpdateCodeThenPublishMakesVersionTwo) {
  ASSERT_TRUE(store_->create(req("hello")).isOk());
  auto v1 = store_->publishVersion("hello");
  ASSERT_TRUE(v1.isOk());
  ASSERT_TRUE(store_->createAlias("hello", "prod", "1").isOk());
  // Unchanged $LATEST: no new version, the newest one is returned.
  auto again = store_->publishVersion("hello", "ignored");
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ(again->version, "1");
  EXPECT_EQ(store_->listVersions("hello")->size(), 2u);  // $LATEST + 1

  std::string code2 = tmp_.path() + "/src2";
  writeFile(code2 + "/app.py", "def handler(e, c):\n    return 2\n");
  auto latest = store_->updateFunctionCode("hello", "", code2);
  ASSERT_TRUE(latest.isOk()) << latest.status().toString();
  EXPECT_EQ(latest->version, "$LATEST");
  EXPECT_NE(latest->code_sha256, v1->code_sha256);
  EXPECT_EQ(readAll(latest->code_dir + "/app.py"), "def handler(e, c):\n    return 2\n");
  EXPECT_FALSE(fs::exists(latest->code_dir + ".new"));
  // Version 1 and the alias still have the old code.
  EXPECT_EQ(readAll(v1->code_dir + "/app.py"), "def handler(e, c):\n    return e\n");
  auto r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:prod");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->version.version, "1");

  auto v2 = store_->publishVersion("hello");
  ASSERT_TRUE(v2.isOk());
  EXPECT_EQ(v2->version, "2");
  EXPECT_EQ(v2->code_sha256, latest->code_sha256);
  EXPECT_EQ(readAll(v2->code_dir + "/app.py"), "def handler(e, c):\n    return 2\n");
  EXPECT_EQ(store_->publishVersion("hello")->version, "2");
  // The same code again (same hash): still nothing to publish.
  ASSERT_TRUE(store_->updateFunctionCode("hello", "", code2).isOk());
  EXPECT_EQ(store_->publishVersion("hello")->version, "2");
  EXPECT_EQ(
      store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:prod")->version.version,
      "1");
  ASSERT_TRUE(store_->updateAlias("hello", "prod", "2").isOk());
  r = store_->resolve("arn:aws:lambda:us-east-1:123456789012:function:hello:prod");
  EXPECT_EQ(r->version.code_dir, v2->code_dir);
}

TEST_F(FunctionStoreTest, UpdateConfigurationThenPublish) {
  ASSERT_TRUE(store_->create(req("hello")).isOk());
  ASSERT_TRUE(store_->publishVersion("hello").isOk());
  FunctionConfigUpdate u;
  u.env = std::map<std::string, std::string>{{"GREETING", "hola"}};
  u.timeout_s = 9;
  auto l = store_->updateFunctionConfiguration("hello", u);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->config.env, (std::map<std::string, std::string>{{"GREETING", "hola"}}));
  EXPECT_EQ(l->config.handler, "app.handler");  // untouched fields stay
  auto v2 = store_->publishVersion("hello");
  ASSERT_TRUE(v2.isOk());
  EXPECT_EQ(v2->version, "2");
  EXPECT_EQ(v2->config.timeout_s, 9u);
  EXPECT_EQ(store_->get("hello", "1")->config.env.at("A"), "1");
  // A description change is a configuration change too.
  FunctionConfigUpdate d;
  d.description = "new words";
  ASSERT_TRUE(store_->updateFunctionConfiguration("hello", d).isOk());
  EXPECT_EQ(store_->publishVersion("hello", "v3 notes")->version, "3");
  EXPECT_EQ(store_->get("hello", "3")->config.description, "v3 notes");
  EXPECT_EQ(store_->publishVersion("hello")->version, "3");
  // Bad values are refused and change nothing.
  FunctionConfigUpdate bad;
  bad.runtime = "cobol";
  auto res = store_->updateFunctionConfiguration("hello", bad);
  ASSERT_FALSE(res.isOk());
  EXPECT_NE(res.status().message().find("cobol"), std::string::npos);
  EXPECT_EQ(store_->get("hello", "$LATEST")->config.runtime, "python3.8");
  EXPECT_FALSE(store_->updateFunctionConfiguration("hello", {}).isOk());
  EXPECT_EQ(store_->updateFunctionConfiguration("nope", d).status().code(), Code::kNotFound);
}

TEST_F(FunctionStoreTest, FailedCodeUpdateKeepsLatest) {
  auto created = store_->create(req("hello"));
  ASSERT_TRUE(created.isOk());
  ziptest::ZipBuilder b;
  b.file("app.py", "new");
  b.symlink("shadow", "/etc/shadow");
  std::string zip = tmp_.path() + "/evil.zip";
  b.writeTo(zip);
  auto r = store_->updateFunctionCode("hello", zip, "");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("\"shadow\""), std::string::npos) << r.status().message();
  auto l = store_->get("hello", "$LATEST");
  EXPECT_EQ(l->code_sha256, created->code_sha256);
  EXPECT_EQ(readAll(l->code_dir + "/app.py"), "def handler(e, c):\n    return e\n");
  EXPECT_FALSE(fs::exists(l->code_dir + ".new"));
  EXPECT_FALSE(store_->updateFunctionCode("hello", zip, code_).isOk());  // both given
  EXPECT_EQ(store_->updateFunctionCode("nope", "", code_).status().code(), Code::kNotFound);
}

// Fleet deployments (issue 15): a job's zip becomes exactly the numbered version it names; the
// same zip again is a no-op, other code for that version a Conflict that changes nothing.
TEST_F(FunctionStoreTest, PruneKeepsNewestInUseAndAliasedVersions) {
  FunctionConfig c;
  c.name = "Echo";
  c.runtime = "python3.11";
  c.handler = "echo.handler";
  for (int i = 1; i <= 6; ++i) {
    ziptest::ZipBuilder b;
    b.file("echo.py", "def handler(e, c):\n    return " + std::to_string(i) + "\n");
    std::string zip = tmp_.path() + "/echo" + std::to_string(i) + ".zip";
    b.writeTo(zip);
    bool changed = false;
    auto v =
        store_->importZipVersion(c, "us-east-1", "123456789012", std::to_string(i), zip, &changed);
    ASSERT_TRUE(v.isOk()) << v.status().toString();
  }
  ASSERT_TRUE(store_->createAlias("Echo", "prod", "2").isOk());
  // Keep the 2 newest (6, 5); 2 is aliased, 3 is used by a deployment; 1 and 4 go.
  auto removed = store_->pruneVersions(2, {"Echo:3"});
  ASSERT_TRUE(removed.isOk()) << removed.status().toString();
  EXPECT_EQ(*removed, (std::vector<std::string>{"Echo:4", "Echo:1"}));
  for (const char* v : {"2", "3", "5", "6"}) EXPECT_TRUE(store_->get("Echo", v).isOk()) << v;
  for (const char* v : {"1", "4"}) {
    EXPECT_EQ(store_->get("Echo", v).status().code(), Code::kNotFound) << v;
  }
  EXPECT_TRUE(store_->get("Echo", "$LATEST").isOk());
  auto again = store_->pruneVersions(2, {"Echo:3"});
  ASSERT_TRUE(again.isOk());
  EXPECT_TRUE(again->empty());
  EXPECT_TRUE(store_->pruneVersions(0, {})->empty());  // 0: keep everything
}

TEST_F(FunctionStoreTest, ImportZipVersionIsIdempotentAndImmutable) {
  ziptest::ZipBuilder b;
  b.file("echo.py", "def handler(e, c):\n    return 1\n");
  std::string zip = tmp_.path() + "/echo.zip";
  b.writeTo(zip);
  FunctionConfig c;
  c.name = "Echo";
  c.runtime = "python3.11";
  c.handler = "echo.handler";
  bool changed = false;
  auto v = store_->importZipVersion(c, "us-east-1", "123456789012", "3", zip, &changed);
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_TRUE(changed);
  EXPECT_EQ(v->version, "3");
  EXPECT_EQ(readAll(v->code_dir + "/echo.py"), "def handler(e, c):\n    return 1\n");
  uint64_t size = 0;
  EXPECT_EQ(v->code_sha256, *fileSha256(zip, &size));  // the zip's CodeSha256, as Lambda
  auto again = store_->importZipVersion(c, "us-east-1", "123456789012", "3", zip, &changed);
  ASSERT_TRUE(again.isOk());
  EXPECT_FALSE(changed);
  ziptest::ZipBuilder other;
  other.file("echo.py", "def handler(e, c):\n    return 2\n");
  std::string zip2 = tmp_.path() + "/echo2.zip";
  other.writeTo(zip2);
  auto conflict = store_->importZipVersion(c, "us-east-1", "123456789012", "3", zip2, &changed);
  EXPECT_EQ(conflict.status().code(), Code::kConflict);
  EXPECT_FALSE(changed);
  EXPECT_EQ(readAll(store_->get("Echo", "3")->code_dir + "/echo.py"),
            "def handler(e, c):\n    return 1\n");
}

// Issue 11 item 4: links in a zip or a code dir are never dereferenced, also not by publish.
TEST_F(FunctionStoreTest, SymlinksAreNeverDereferenced) {
  fs::create_symlink("/etc/shadow", code_ + "/shadow");
  auto r = store_->create(req("leaky"));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("\"shadow\" is a symlink to the absolute path"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(tmp_.path() + "/root/functions/leaky"));
  fs::remove(code_ + "/shadow");
  // An inside link stays a link through create and publish-version.
  fs::create_symlink("app.py", code_ + "/main.py");
  auto linked = store_->create(req("linked"));
  ASSERT_TRUE(linked.isOk()) << linked.status().toString();
  auto v1 = store_->publishVersion("linked");
  ASSERT_TRUE(v1.isOk()) << v1.status().toString();
  EXPECT_TRUE(fs::is_symlink(v1->code_dir + "/main.py"));
  EXPECT_EQ(fs::read_symlink(v1->code_dir + "/main.py").string(), "app.py");
}

// Stored code stays readable for any RunAs identity whatever the umask; metadata is private.
TEST_F(FunctionStoreTest, StoreModesAreSane) {
  mode_t old = ::umask(077);
  auto v = store_->create(req("hello"));
  auto v1 = store_->publishVersion("hello");
  ::umask(old);
  ASSERT_TRUE(v.isOk());
  ASSERT_TRUE(v1.isOk());
  std::string base = tmp_.path() + "/root/functions";
  EXPECT_EQ(permsOf(base), 0755u);
  EXPECT_EQ(permsOf(base + "/hello"), 0755u);
  EXPECT_EQ(permsOf(base + "/hello/code"), 0755u);
  EXPECT_EQ(permsOf(v->code_dir), 0755u);
  EXPECT_EQ(permsOf(v1->code_dir), 0755u);
  EXPECT_EQ(permsOf(v1->code_dir + "/app.py"), 0644u);
  EXPECT_EQ(permsOf(base + "/hello/function.json"), 0600u);
}

TEST_F(FunctionStoreTest, ZipBombIsRefusedByCreateAndUpdate) {
  ziptest::ZipBuilder b;
  b.zeros("bomb.bin", 1600);
  std::string zip = tmp_.path() + "/bomb.zip";
  b.writeTo(zip);
  auto r = req("bomb");
  r.code_dir.clear();
  r.zip_path = zip;
  auto res = store_->create(r);
  ASSERT_FALSE(res.isOk());
  EXPECT_NE(res.status().message().find("maxUnpackedBytes"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp_.path() + "/root/functions/bomb"));
  ASSERT_TRUE(store_->create(req("hello")).isOk());
  auto u = store_->updateFunctionCode("hello", zip, "");
  ASSERT_FALSE(u.isOk());
  EXPECT_EQ(u.status().code(), Code::kTooLarge);
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

TEST(FunctionCliTest, UpdateCodeConfigurationAndPublish) {
  TempDir tmp;
  std::string root = tmp.path() + "/root";
  writeFile(root + "/config/config.json",
            R"({"coreThing":{"thingArn":"arn:aws:iot:eu-west-1:111122223333:thing/Core"}})");
  writeFile(tmp.path() + "/src/app.py", "x = 1\n");
  std::string out, err;
  ASSERT_EQ(runCli({"create-function", "--root", root, "--function-name", "f", "--runtime",
                    "python3.8", "--handler", "app.h", "--code-dir", tmp.path() + "/src"},
                   &out, &err),
            0)
      << err;
  ASSERT_EQ(runCli({"publish-version", "--root", root, "--function-name", "f"}, &out, &err), 0);
  std::string sha1 = nlohmann::json::parse(out)["CodeSha256"];
  ziptest::ZipBuilder b;
  b.file("app.py", "x = 2\n");
  b.writeTo(tmp.path() + "/v2.zip");
  ASSERT_EQ(runCli({"update-function-code", "--root", root, "--function-name", "f", "--zip-file",
                    "fileb://" + tmp.path() + "/v2.zip"},
                   &out, &err),
            0)
      << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["Version"], "$LATEST");
  EXPECT_NE(j["CodeSha256"], sha1);
  ASSERT_EQ(runCli({"publish-version", "--root", root, "--function-name", "f"}, &out, &err), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["Version"], "2");
  ASSERT_EQ(runCli({"publish-version", "--root", root, "--function-name", "f"}, &out, &err), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["Version"], "2");  // unchanged: no version 3

  ASSERT_EQ(runCli({"update-function-configuration", "--root", root, "--function-name", "f",
                    "--environment", "Variables={GREETING=hola}", "--timeout", "7"},
                   &out, &err),
            0)
      << err;
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["Environment"]["Variables"]["GREETING"], "hola");
  EXPECT_EQ(j["Timeout"], 7);
  EXPECT_EQ(j["Version"], "$LATEST");
  // --publish: update and publish in one call, printing the new version.
  writeFile(tmp.path() + "/src/app.py", "x = 4\n");
  ASSERT_EQ(runCli({"update-function-code", "--root", root, "--function-name", "f", "--code-dir",
                    tmp.path() + "/src", "--publish"},
                   &out, &err),
            0)
      << err;
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["Version"], "3");
  EXPECT_EQ(j["Environment"]["Variables"]["GREETING"], "hola");
  ASSERT_EQ(runCli({"list-versions", "--root", root, "--function-name", "f"}, &out, &err), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["Versions"].size(), 4u);  // $LATEST, 1, 2, 3
}

TEST(FunctionCliTest, UpdateUsageErrorsAndConfiguredBounds) {
  TempDir tmp;
  std::string root = tmp.path() + "/root";
  writeFile(root + "/config/config.json",
            R"({"coreThing":{"thingArn":"arn:aws:iot:eu-west-1:111122223333:thing/Core"},)"
            R"("evergreen":{"functions":{"maxUnpackedBytes":1000,"maxEntries":5}}})");
  writeFile(tmp.path() + "/src/app.py", "x = 1\n");
  std::string out, err;
  ASSERT_EQ(runCli({"create", "--root", root, "--function-name", "f", "--runtime", "python3.8",
                    "--handler", "app.h", "--code-dir", tmp.path() + "/src"},
                   &out, &err),
            0)
      << err;
  EXPECT_EQ(
      runCli({"update-function-configuration", "--root", root, "--function-name", "f"}, &out, &err),
      2);
  EXPECT_NE(err.find("at least one of"), std::string::npos) << err;
  EXPECT_EQ(runCli({"update-function-configuration", "--root", root, "--function-name", "f",
                    "--zip-file", "x.zip"},
                   &out, &err),
            2);
  EXPECT_NE(err.find("--zip-file is not valid for update-function-configuration"),
            std::string::npos)
      << err;
  EXPECT_EQ(runCli({"update-function-code", "--root", root, "--function-name", "f"}, &out, &err),
            2);
  EXPECT_NE(err.find("exactly one of --zip-file or --code-dir"), std::string::npos) << err;
  EXPECT_EQ(runCli({"update-function-code", "--root", root, "--function-name", "f", "--code-dir",
                    tmp.path() + "/src", "--publish=false"},
                   &out, &err),
            2);
  EXPECT_NE(err.find("--publish takes no value"), std::string::npos) << err;
  // evergreen.functions bounds apply.
  writeFile(tmp.path() + "/big/app.py", std::string(2000, 'x'));
  EXPECT_EQ(runCli({"update-function-code", "--root", root, "--function-name", "f", "--code-dir",
                    tmp.path() + "/big"},
                   &out, &err),
            1);
  EXPECT_NE(err.find("limit of 1000 bytes (evergreen.functions.maxUnpackedBytes)"),
            std::string::npos)
      << err;
  writeFile(root + "/config/config.json",
            R"({"coreThing":{"thingArn":"arn:aws:iot:eu-west-1:111122223333:thing/Core"},)"
            R"("evergreen":{"functions":{"maxEntries":0}}})");
  EXPECT_EQ(runCli({"list", "--root", root}, &out, &err), 2);
  EXPECT_NE(err.find("evergreen.functions.maxEntries"), std::string::npos) << err;
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
