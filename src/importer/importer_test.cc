#include "importer/importer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "certs/certs.h"
#include "functions/function_store.h"
#include "group/group.h"
#include "importer/v1_group_reader.h"
#include "shadow/shadow_store.h"

namespace evg::importer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using R = ImportItem::Result;

void writeFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Everything under dir with its content, to prove a run changed nothing.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    m[e.path().string()] = e.is_regular_file() ? readFile(e.path().string()) : "<dir>";
  }
  return m;
}

constexpr const char* kFnArn = "arn:aws:lambda:eu-west-1:123456789012:function:Seed:3";
constexpr const char* kNodeArn = "arn:aws:lambda:eu-west-1:123456789012:function:NodeFn:PROD";

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("evg-import-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    gg_ = (base_ / "greengrass").string();
    root_ = (base_ / "root").string();
    // An IoT certificate + key (any CA will do: AWS IoT issued the real one).
    std::string pki = (base_ / "pki").string();
    ASSERT_TRUE(certs::ensureGroupCa(pki));
    auto dc = certs::issueDeviceCert(pki, "Core", pki);
    ASSERT_TRUE(dc) << dc.status().message();
    fs::create_directories(gg_ + "/certs");
    fs::copy_file(dc->cert_path, gg_ + "/certs/abcd.cert.pem");
    fs::copy_file(dc->key_path, gg_ + "/certs/abcd.private.key");
    fs::copy_file(pki + "/group-ca.pem", gg_ + "/certs/root.ca.pem");
    config_ = {{"coreThing",
                {{"caPath", "root.ca.pem"},
                 {"certPath", "abcd.cert.pem"},
                 {"keyPath", "abcd.private.key"},
                 {"thingArn", "arn:aws:iot:eu-west-1:123456789012:thing/Core"},
                 {"iotHost", "abc-ats.iot.eu-west-1.amazonaws.com"},
                 {"ggHost", "greengrass-ats.iot.eu-west-1.amazonaws.com"},
                 {"keepAlive", 600}}},
               {"runtime", {{"cgroup", {{"useSystemd", "yes"}}}}},
               {"managedRespawn", false},
               {"crypto",
                {{"caPath", "file://" + gg_ + "/certs/root.ca.pem"},
                 {"principals",
                  {{"IoTCertificate",
                    {{"privateKeyPath", "file://" + gg_ + "/certs/abcd.private.key"},
                     {"certificatePath", "file://" + gg_ + "/certs/abcd.cert.pem"}}}}}}}};
    writeFile(gg_ + "/config/config.json", config_.dump(2));
    // A group.json as the device keeps it: bare lists, Lambda-side Handler/Runtime.
    group_ = {
        {"Functions",
         json::array(
             {{{"Id", "seed"},
               {"FunctionArn", kFnArn},
               {"Handler", "seed.handler"},
               {"Runtime", "python3.7"},
               {"CodeSha256", "xyz"},
               {"FunctionConfiguration",
                {{"Pinned", false},
                 {"Timeout", 5},
                 {"MemorySize", 32768},
                 {"EncodingType", "json"}}}},
              {{"Id", "node"},
               {"FunctionArn", kNodeArn},
               {"FunctionConfiguration",
                {{"Handler", "index.handler"}, {"Runtime", "nodejs12.x"}}}},
              {{"Id", "spooler"},
               {"FunctionArn", "arn:aws:lambda:::function:GGCloudSpooler:1"},
               {"FunctionConfiguration",
                {{"Environment", {{"Variables", {{"GG_CONFIG_STORAGE_TYPE", "FileSystem"}}}}}}}},
              {{"Id", "sm"}, {"FunctionArn", "arn:aws:lambda:::function:GGStreamManager:1"}}})},
        {"subscriptions",
         json::array({{{"Id", "s1"}, {"Source", "cloud"}, {"Subject", "in"}, {"Target", kFnArn}}})},
        {"Devices", json::array({{{"Id", "d1"},
                                  {"ThingArn", "arn:aws:iot:eu-west-1:123456789012:thing/Sensor"},
                                  {"CertificateArn", "arn:aws:iot:eu-west-1:123456789012:cert/" +
                                                         std::string(64, 'a')}}})},
        {"Resources",
         json::array(
             {{{"Id", "model"},
               {"Name", "model"},
               {"ResourceDataContainer",
                {{"S3MachineLearningModelResourceData",
                  {{"DestinationPath", "/ml"}, {"S3Uri", "s3://bucket/model.tar.gz"}}}}}}})}};
    writeFile(gg_ + "/ggc/deployment/group/group.json", group_.dump(2));
    writeFile(gg_ + "/ggc/deployment/lambda/" + std::string(kFnArn) + "/seed.py",
              "def handler(e, c): pass\n");
    writeFile(gg_ +
                  "/ggc/deployment/lambda/arn.aws.lambda.eu-west-1.123456789012.function.NodeFn.7/"
                  "index.js",
              "exports.handler = () => {};\n");
    writeFile(gg_ + "/ggc/deployment/mlmodel/5f0c1b7e-uuid/model.bin", "weights");
  }
  void TearDown() override { fs::remove_all(base_); }

  ImportOptions opts() const {
    ImportOptions o;
    o.from = gg_;
    o.target = {root_,
                root_ + "/config/config.json",
                root_ + "/certs",
                root_ + "/deployment/group/group.json",
                root_ + "/resources",
                root_ + "/var/shadow/shadows.db"};
    return o;
  }

  static const ImportItem* find(const ImportReport& r, const std::string& kind,
                                const std::string& name) {
    for (const auto& i : r.items) {
      if (i.kind == kind && i.name == name) return &i;
    }
    return nullptr;
  }

  fs::path base_;
  std::string gg_, root_;
  json config_, group_;
};

TEST_F(ImporterTest, ImportsIdentityGroupFunctionsAndModels) {
  auto snap = snapshot(gg_);
  auto rep = importV1(opts());
  ASSERT_TRUE(rep) << rep.status().message();
  EXPECT_TRUE(rep->ok()) << rep->toText();
  // The v1 tree is never modified.
  EXPECT_EQ(snapshot(gg_), snap);
  // Identity copied; key 0600; config points at the copies and keeps the thing.
  EXPECT_EQ(readFile(root_ + "/certs/core.cert.pem"), readFile(gg_ + "/certs/abcd.cert.pem"));
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/certs/core.private.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  json cfg = json::parse(readFile(root_ + "/config/config.json"));
  EXPECT_EQ(cfg["coreThing"]["thingArn"], "arn:aws:iot:eu-west-1:123456789012:thing/Core");
  EXPECT_EQ(cfg["crypto"]["principals"]["IoTCertificate"]["certificatePath"],
            "file://" + root_ + "/certs/core.cert.pem");
  // The group: API shape, valid, Lambda-side fields gone, devices pinned by certificate id.
  auto g = group::loadGroupFile(root_ + "/deployment/group/group.json");
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->functions.size(), 4u);
  EXPECT_EQ(g->subscriptions.size(), 1u);
  // Functions in the store as exactly their versions; the alias points at the one version found.
  functions::FunctionStore store({root_, "eu-west-1", "123456789012"});
  auto seed = store.resolve(kFnArn);
  ASSERT_TRUE(seed) << seed.status().message();
  EXPECT_EQ(seed->version.version, "3");
  EXPECT_EQ(seed->version.config.runtime, "python3.7");
  EXPECT_EQ(seed->version.config.handler, "seed.handler");
  EXPECT_EQ(seed->version.config.timeout_s, 5u);
  EXPECT_EQ(seed->version.config.memory_mb, 32u);
  EXPECT_TRUE(fs::exists(seed->version.code_dir + "/seed.py"));
  auto node = store.resolve(kNodeArn);
  ASSERT_TRUE(node) << node.status().message();
  EXPECT_EQ(node->version.version, "7");
  EXPECT_EQ(node->alias, "PROD");
  // System functions and the model.
  ASSERT_NE(find(*rep, "system-function", "GGCloudSpooler"), nullptr);
  EXPECT_EQ(find(*rep, "system-function", "GGCloudSpooler")->result, R::kMapped);
  EXPECT_EQ(find(*rep, "system-function", "GGStreamManager")->result, R::kMapped);
  EXPECT_EQ(readFile(root_ + "/resources/model/model.bin"), "weights");
  ASSERT_NE(find(*rep, "device", "Sensor"), nullptr);
  EXPECT_EQ(find(*rep, "device", "Sensor")->result, R::kImported);
  // The dropped Lambda-side field is not reported; the lowercase key was read.
  for (const auto& i : rep->items) EXPECT_NE(i.kind, "group-field") << i.name << ": " << i.detail;
}

TEST_F(ImporterTest, SecondRunChangesNothing) {
  ASSERT_TRUE(importV1(opts()));
  auto snap = snapshot(root_);
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok()) << rep->toText();
  for (const auto& i : rep->items) {
    EXPECT_NE(i.result, R::kImported) << i.kind << " " << i.name << ": " << i.detail;
  }
  auto after = snapshot(root_);
  EXPECT_EQ(after.size(), snap.size());
  for (const auto& [path, data] : snap) {
    if (path.find("function.json") != std::string::npos) continue;  // LastModified untouched too
    EXPECT_EQ(after[path], data) << path;
  }
}

TEST_F(ImporterTest, DryRunWritesNothing) {
  auto o = opts();
  o.dry_run = true;
  auto rep = importV1(o);
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok()) << rep->toText();
  EXPECT_FALSE(fs::exists(root_));
  EXPECT_NE(find(*rep, "function", "Seed:3"), nullptr);
}

TEST_F(ImporterTest, MissingRuntimeNamesTheFunctionAndTheFlag) {
  group_["Functions"][0].erase("Runtime");
  writeFile(gg_ + "/ggc/deployment/group/group.json", group_.dump());
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_FALSE(rep->ok());
  const ImportItem* f = find(*rep, "function", "Seed:3");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->result, R::kError);
  EXPECT_NE(f->detail.find("--runtime Seed=python3.7"), std::string::npos) << f->detail;
  // With the flag it imports.
  auto o = opts();
  o.runtimes["Seed"] = "python3.8";
  rep = importV1(o);
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok()) << rep->toText();
}

TEST_F(ImporterTest, DamagedTreeListsEveryProblem) {
  fs::remove_all(gg_ + "/ggc/deployment/lambda");
  fs::remove(gg_ + "/certs/abcd.private.key");
  fs::remove_all(gg_ + "/ggc/deployment/mlmodel");
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_FALSE(rep->ok());
  int errors = 0;
  for (const auto& i : rep->items) errors += i.result == R::kError;
  EXPECT_GE(errors, 4) << rep->toText();  // key, two functions, the model
  EXPECT_EQ(find(*rep, "certificate", "IoT private key")->result, R::kError);
  EXPECT_EQ(find(*rep, "resource", "model")->result, R::kError);
}

TEST_F(ImporterTest, WriteDirectoryAndEmptyGroup) {
  std::string w = (base_ / "write").string();
  config_["writeDirectory"] = w;
  writeFile(gg_ + "/config/config.json", config_.dump());
  writeFile(w + "/ggc/deployment/group/group.json", "{}");
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->ok()) << rep->toText();
  EXPECT_EQ(rep->write_dir, w + "/ggc");
  EXPECT_FALSE(fs::exists(root_ + "/deployment/group/group.json"));
  json cfg = json::parse(readFile(root_ + "/config/config.json"));
  EXPECT_FALSE(cfg.contains("writeDirectory"));
}

TEST_F(ImporterTest, Pkcs11KeyIsReportedUnsupported) {
  config_["crypto"]["principals"]["IoTCertificate"]["privateKeyPath"] = "pkcs11:object=core-key";
  writeFile(gg_ + "/config/config.json", config_.dump());
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_FALSE(rep->ok());
  const ImportItem* c = find(*rep, "config", "config.json");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->detail.find("pkcs11"), std::string::npos) << c->detail;
}

TEST_F(ImporterTest, ShadowsWithARecognisedSchemaAreImported) {
  std::string db = gg_ + "/ggc/var/state/shadow/shadow.db";
  fs::create_directories(fs::path(db).parent_path());
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(
                h,
                "CREATE TABLE shadow(thingName TEXT PRIMARY KEY, document TEXT, version "
                "INTEGER);"
                "INSERT INTO shadow VALUES('Lamp','{\"state\":{\"reported\":{\"on\":true}}}',4);",
                nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(h);
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  EXPECT_EQ(find(*rep, "shadows", db)->result, R::kImported) << rep->toText();
  auto store = shadow::SqliteShadowStore::open(root_ + "/var/shadow/shadows.db");
  ASSERT_TRUE(store);
  auto row = (*store)->load("Lamp");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->version, 4);
  EXPECT_NE((*row)->document.find("\"on\":true"), std::string::npos);
}

TEST_F(ImporterTest, ServerCertificateImportedWithItsExpiry) {
  std::string pki = (base_ / "pki").string();
  ASSERT_TRUE(certs::ensureServerCert(pki, {}, {}));
  fs::create_directories(gg_ + "/ggc/var/state/server");
  fs::copy_file(pki + "/server.pem", gg_ + "/ggc/var/state/server/server.crt");
  fs::copy_file(pki + "/server.key", gg_ + "/ggc/var/state/server/server.key");
  auto rep = importV1(opts());
  ASSERT_TRUE(rep);
  const ImportItem* s = find(*rep, "server-certificate", gg_ + "/ggc/var/state/server/server.crt");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->result, R::kImported) << s->detail;
  EXPECT_NE(s->detail.find("expires on 20"), std::string::npos) << s->detail;
  EXPECT_EQ(readFile(root_ + "/certs/v1-server.pem"), readFile(pki + "/server.pem"));
}

TEST(V1GroupReader, AcceptsApiShapeWrappersAndCase) {
  json api = {
      {"SubscriptionDefinitionVersion",
       {{"Definition",
         {{"Subscriptions",
           json::array(
               {{{"Id", "a"}, {"Source", "cloud"}, {"Subject", "t"}, {"Target", "cloud"}}})}}}}}};
  auto r = readV1Group(api);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->group["SubscriptionDefinitionVersion"]["Subscriptions"].size(), 1u);
  json wrapped = {{"GroupVersion", {{"connectors", json::array({{{"connectorArn", "x"}}})}}}};
  r = readV1Group(wrapped);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->group.contains("ConnectorDefinitionVersion"));
  EXPECT_EQ(r->group["ConnectorDefinitionVersion"]["Connectors"][0]["ConnectorArn"], "x");
  EXPECT_EQ(r->group["ConnectorDefinitionVersion"]["Connectors"][0]["Id"], "connector-0");
  json extra = {
      {"Functions", json::array({{{"Id", "f"}, {"FunctionArn", "a:1"}, {"Colour", "red"}}})},
      {"Version", "1"}};
  r = readV1Group(extra);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->dropped.size(), 2u);
  EXPECT_EQ(r->dropped[0], "Version: not a Greengrass group definition");
  EXPECT_EQ(r->dropped[1], "Functions[Id=f].Colour: not part of the Greengrass API shape");
  r = readV1Group(json::object());
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty);
}

}  // namespace
}  // namespace evg::importer
