#include "daemon/job_document_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "jobs/job_document.h"

namespace evg::daemon {
namespace {

namespace fs = std::filesystem;

class JobDocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("jobdoc-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write("echo.zip", "PK\x03\x04 not really a zip but bytes");
    write("group.json", R"({"FunctionDefinitionVersion": {"Functions": [{"Id": "echo",
      "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:Echo:3",
      "FunctionConfiguration": {"Pinned": false, "MemorySize": 16384, "Timeout": 3}}]}})");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& body) {
    std::ofstream(dir_ / name, std::ios::binary) << body;
    return (dir_ / name).string();
  }
  std::string p(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST(JobDocumentSpecTest, ParsesFunctionSpecs) {
  auto f = parseFunctionSpec("Echo:3:python3.11:echo.handler:/tmp/echo.zip");
  ASSERT_TRUE(f.isOk()) << f.status().message();
  EXPECT_EQ(f->name, "Echo");
  EXPECT_EQ(f->version, 3);
  EXPECT_EQ(f->runtime, "python3.11");
  EXPECT_EQ(f->handler, "echo.handler");
  EXPECT_EQ(f->zip, "/tmp/echo.zip");
  auto j = parseFunctionSpec("J:1:java8:com.example.Handler::handleRequest:j.zip");
  ASSERT_TRUE(j.isOk());
  EXPECT_EQ(j->handler, "com.example.Handler::handleRequest");
  EXPECT_EQ(j->zip, "j.zip");
  auto e = parseFunctionSpec("C:2:arn:aws:greengrass:::runtime/function/executable:main:c.zip");
  ASSERT_TRUE(e.isOk()) << e.status().message();
  EXPECT_EQ(e->runtime, "arn:aws:greengrass:::runtime/function/executable");
  EXPECT_EQ(e->handler, "main");
  for (const char* bad :
       {"", "Echo", "Echo:3", "Echo:x:python3.11:h:z.zip", "Echo:0:python3.11:h:z.zip",
        "Ec ho:1:python3.11:h:z.zip", "Echo:1:cobol:h:z.zip", "Echo:1:python3.11::z.zip",
        "Echo:1:python3.11:h:"}) {
    auto r = parseFunctionSpec(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_NE(r.status().message().find("NAME:VERSION"), std::string::npos) << bad;
    }
  }
}

TEST(JobDocumentSpecTest, ParsesS3Uris) {
  auto a = parseS3Uri("s3://my-bucket/fleet/prod/");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->first, "my-bucket");
  EXPECT_EQ(a->second, "fleet/prod");
  auto b = parseS3Uri("s3://my-bucket");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->second, "");
  EXPECT_FALSE(parseS3Uri("https://my-bucket/x").isOk());
  EXPECT_FALSE(parseS3Uri("s3://My_Bucket/x").isOk());
  EXPECT_FALSE(parseS3Uri("s3://ok-bucket/a}b").isOk());
}

TEST_F(JobDocumentTest, BuildsTheAgreedSchema) {
  JobDocumentOptions o;
  o.group_file = p("group.json");
  o.s3_uri = "s3://evg-artifacts/fleet";
  o.functions.push_back(*parseFunctionSpec("Echo:3:python3.11:echo.handler:" + p("echo.zip")));
  o.deployment_id = "fleet-a";
  o.health_window_s = 5;
  auto b = buildJobDocument(o);
  ASSERT_TRUE(b.isOk()) << b.status().message();
  const auto& d = b->document;
  EXPECT_EQ(d["schema"], "evergreen/job/1");
  EXPECT_EQ(d["deploymentId"], "fleet-a");
  EXPECT_TRUE(d["group"].contains("FunctionDefinitionVersion"));
  EXPECT_FALSE(d.contains("groupArtifact"));
  ASSERT_EQ(d["functions"].size(), 1u);
  const auto& f = d["functions"][0];
  uint64_t size = 0;
  std::string sha = *fileSha256Hex(p("echo.zip"), &size);
  EXPECT_EQ(sha.size(), 64u);
  EXPECT_EQ(f["artifact"]["sha256"], sha);
  EXPECT_EQ(f["artifact"]["size"], size);
  std::string key = "fleet/Echo-3-" + sha.substr(0, 16) + ".zip";
  EXPECT_EQ(
      f["artifact"]["url"],
      "${aws:iot:s3-presigned-url:https://s3.eu-west-1.amazonaws.com/evg-artifacts/" + key + "}");
  EXPECT_EQ(d["failurePolicy"], "rollback");
  EXPECT_EQ(d["healthWindowSeconds"], 5);
  ASSERT_EQ(b->uploads.size(), 1u);
  EXPECT_EQ(b->uploads[0].s3_uri, "s3://evg-artifacts/" + key);
  EXPECT_TRUE(b->warnings.empty());
  EXPECT_EQ(nlohmann::json::parse(b->text), nlohmann::json::parse(d.dump()));
}

// What the generator writes is what the device accepts, once IoT has replaced the placeholders.
TEST_F(JobDocumentTest, DeviceParserAcceptsTheDocument) {
  JobDocumentOptions o;
  o.group_file = p("group.json");
  o.s3_uri = "s3://evg-artifacts/fleet";
  o.functions.push_back(*parseFunctionSpec("Echo:3:python3.11:echo.handler:" + p("echo.zip")));
  o.deployment_id = "fleet-a";
  o.failure_policy = "leave";
  o.health_window_s = 0;
  auto b = buildJobDocument(o);
  ASSERT_TRUE(b.isOk()) << b.status().message();
  auto doc = nlohmann::json::parse(b->text);
  std::string& url = doc["functions"][0]["artifact"]["url"].get_ref<std::string&>();
  const std::string head = "${aws:iot:s3-presigned-url:";
  ASSERT_EQ(url.rfind(head, 0), 0u);
  url = url.substr(head.size(), url.size() - head.size() - 1) + "?X-Amz-Expires=60";
  auto parsed = jobs::parseJobDocument(doc);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  EXPECT_EQ(parsed->deployment_id, "fleet-a");
  EXPECT_FALSE(parsed->rollback_on_failure);
  EXPECT_EQ(parsed->health_window_s, 0);
  ASSERT_EQ(parsed->functions.size(), 1u);
  EXPECT_EQ(parsed->functions[0].version, 3u);
  EXPECT_EQ(parsed->functions[0].artifact.sha256,
            b->document["functions"][0]["artifact"]["sha256"]);
  // The group by artifact, too.
  o.group_artifact = true;
  b = buildJobDocument(o);
  ASSERT_TRUE(b.isOk());
  doc = nlohmann::json::parse(b->text);
  std::string& gurl = doc["groupArtifact"]["url"].get_ref<std::string&>();
  gurl = gurl.substr(head.size(), gurl.size() - head.size() - 1);
  doc["functions"][0]["artifact"]["url"] = "https://example.com/x.zip";
  parsed = jobs::parseJobDocument(doc);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  EXPECT_TRUE(parsed->group_artifact.has_value());
  EXPECT_FALSE(parsed->group.has_value());
}

TEST_F(JobDocumentTest, KnownSha256) {
  write("abc", "abc");
  uint64_t size = 0;
  EXPECT_EQ(*fileSha256Hex(p("abc"), &size),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(size, 3u);
  EXPECT_FALSE(fileSha256Hex(p("missing"), &size).isOk());
}

TEST_F(JobDocumentTest, RejectsBadInputNamingTheProblem) {
  JobDocumentOptions o;
  o.group_file = p("group.json");
  o.s3_uri = "s3://evg-artifacts";
  o.failure_policy = "ignore";
  auto r = buildJobDocument(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("--failure-policy"), std::string::npos);
  o.failure_policy = "leave";
  o.health_window_s = 601;
  r = buildJobDocument(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("--health-window"), std::string::npos);
  o.health_window_s = 10;
  o.group_file = write("bad-group.json", R"({"SubscriptionDefinitionVersion": 7})");
  r = buildJobDocument(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("bad-group.json"), std::string::npos);
  o.group_file = p("group.json");
  o.functions.push_back(*parseFunctionSpec("Echo:3:python3.11:echo.handler:" + p("nope.zip")));
  r = buildJobDocument(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("nope.zip"), std::string::npos);
}

TEST_F(JobDocumentTest, TooLargeThenGroupArtifact) {
  // 100 subscriptions (50 per source, the group limit) with 240-byte topics: a valid ~40 KB group.
  const std::string fn = "arn:aws:lambda:eu-west-1:123456789012:function:Echo:3";
  std::string subs;
  for (int i = 0; i < 100; ++i) {
    if (i) subs += ",";
    bool from_cloud = i % 2 == 0;
    subs += R"({"Id": "s)" + std::to_string(i) + R"(", "Source": ")" + (from_cloud ? "cloud" : fn) +
            R"(", "Subject": "t)" + std::to_string(i) + "/" + std::string(236, 'x') +
            R"(", "Target": ")" + (from_cloud ? fn : "cloud") + R"("})";
  }
  write("big.json", R"({"FunctionDefinitionVersion": {"Functions": [{"Id": "echo",
      "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:Echo:3",
      "FunctionConfiguration": {"Pinned": false, "MemorySize": 16384, "Timeout": 3}}]},
      "SubscriptionDefinitionVersion": {"Subscriptions": [)" +
                        subs + "]}}");
  JobDocumentOptions o;
  o.group_file = p("big.json");
  o.s3_uri = "s3://evg-artifacts/p";
  o.region = "us-east-1";
  auto r = buildJobDocument(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
  EXPECT_NE(r.status().message().find("--group-artifact"), std::string::npos);
  o.group_artifact = true;
  r = buildJobDocument(o);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_FALSE(r->document.contains("group"));
  EXPECT_EQ(r->document["groupArtifact"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_LE(r->text.size(), kMaxJobDocumentBytes);
  ASSERT_EQ(r->uploads.size(), 1u);
}

TEST_F(JobDocumentTest, CliWritesFileAndPrintsUploads) {
  std::string zip = p("echo.zip");
  std::string group = p("group.json");
  std::string outp = p("doc.json");
  std::string fn = "Echo:3:python3.11:echo.handler:" + zip;
  std::vector<std::string> args = {
      "job-document", "--group", group, "--function", fn, "--s3", "s3://evg-artifacts/fleet",
      "--out",        outp};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  ASSERT_EQ(runJobDocumentCli(static_cast<int>(argv.size()), argv.data(), out, err), 0)
      << err.str();
  EXPECT_NE(out.str().find("aws s3 cp '" + zip + "' 's3://evg-artifacts/fleet/Echo-3-"),
            std::string::npos)
      << out.str();
  std::ifstream in(outp);
  auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["functions"][0]["name"], "Echo");
  std::vector<std::string> bad = {"job-document", "--group", group, "--frobnicate", "1"};
  argv.clear();
  for (auto& a : bad) argv.push_back(a.data());
  std::ostringstream o2, e2;
  EXPECT_EQ(runJobDocumentCli(static_cast<int>(argv.size()), argv.data(), o2, e2), 2);
  EXPECT_NE(e2.str().find("--frobnicate"), std::string::npos);
}

}  // namespace
}  // namespace evg::daemon
