#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "secrets/secret_crypto.h"
#include "secrets/secret_service.h"
#include "secrets/secret_store.h"
#include "secrets/secrets_cli.h"

namespace evg::secrets {
namespace {

using nlohmann::json;

constexpr const char* kArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-pass-AbCdEf";
constexpr const char* kArn2 = "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-XyZ123";
constexpr const char* kFnA = "arn:aws:lambda:us-east-1:123456789012:function:A:1";
constexpr const char* kFnB = "arn:aws:lambda:us-east-1:123456789012:function:B:1";

class TempDir {
 public:
  TempDir() {
    path_ = (std::filesystem::temp_directory_path() /
             ("evg_secrets_" + std::to_string(::getpid()) + "_" + std::to_string(n_++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  static inline int n_ = 0;
  std::string path_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SecretStoreOptions opts(const TempDir& d) {
  SecretStoreOptions o;
  o.path = d.path() + "/var/secrets/secrets.json";
  o.key_path = d.path() + "/certs/secrets.key";
  o.create_key = true;
  return o;
}

TEST(SecretCryptoTest, GcmRoundTripAndTamper) {
  auto key = randomBytes(kDataKeyBytes);
  ASSERT_TRUE(key);
  auto sealed = aesGcmSeal(*key, "hunter2", "aad");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
  auto plain = aesGcmOpen(*key, *sealed, "aad");
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, "hunter2");
  EXPECT_EQ(aesGcmOpen(*key, *sealed, "other").status().code(), Code::kCorruption);
  std::string t = *sealed;
  t[14] ^= 1;
  EXPECT_FALSE(aesGcmOpen(*key, t, "aad"));
  EXPECT_EQ(*base64Decode(base64Encode(std::string("\0\xff\x01", 3))),
            std::string("\0\xff\x01", 3));
  EXPECT_FALSE(base64Decode("abc"));
}

TEST(SecretCryptoTest, RsaWrapRefusesNonRsaKey) {
  TempDir d;
  std::string ec = d.path() + "/ec.key";
  ASSERT_EQ(
      std::system(
          ("openssl ecparam -name prime256v1 -genkey -noout -out " + ec + " 2>/dev/null").c_str()),
      0);
  auto w = rsaWrap(ec, std::string(32, 'k'));
  EXPECT_EQ(w.status().code(), Code::kUnsupported);
  EXPECT_NE(w.status().message().find("RSA"), std::string::npos);
}

TEST(SecretNameTest, FromArn) {
  EXPECT_EQ(*secretNameFromArn(kArn), "db-pass");
  EXPECT_EQ(*secretNameFromArn("arn:aws:secretsmanager:r:1:secret:plain"), "plain");
  EXPECT_FALSE(secretNameFromArn("arn:aws:s3:::bucket"));
  EXPECT_FALSE(secretNameFromArn("db-pass"));
}

TEST(SecretStoreTest, PutGetStagesAndReopenNoPlaintext) {
  TempDir d;
  auto o = opts(d);
  {
    auto s = SecretStore::open(o);
    ASSERT_TRUE(s) << s.status().toString();
    auto v1 = (*s)->put(kArn, "first-PLAINTEXT-1", false, {}, 1000);
    ASSERT_TRUE(v1) << v1.status().toString();
    EXPECT_EQ(v1->name, "db-pass");
    auto v2 = (*s)->put(kArn, "second-PLAINTEXT-2", false, {"AWSCURRENT", "blue"}, 2000);
    ASSERT_TRUE(v2);
    ASSERT_TRUE((*s)->put(kArn2, std::string("\x00\x01\xfe", 3), true, {}, 3000));
    EXPECT_FALSE((*s)->put("nope", "x", false, {}, 1));
    EXPECT_FALSE((*s)->put(kArn, "", false, {}, 1));
  }
  EXPECT_TRUE(std::filesystem::exists(o.key_path));
  EXPECT_EQ(std::filesystem::status(o.path).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  std::string file = slurp(o.path);
  EXPECT_EQ(file.find("PLAINTEXT"), std::string::npos) << "no plaintext at rest";
  auto s = SecretStore::open(o);
  ASSERT_TRUE(s) << s.status().toString();
  auto cur = (*s)->get("db-pass", "AWSCURRENT");
  ASSERT_TRUE(cur);
  EXPECT_EQ(cur->value, "second-PLAINTEXT-2");
  auto prev = (*s)->get(kArn, "AWSPREVIOUS");
  ASSERT_TRUE(prev) << prev.status().toString();
  EXPECT_EQ(prev->value, "first-PLAINTEXT-1");
  EXPECT_EQ((*s)->get(kArn, "blue")->value, "second-PLAINTEXT-2");
  EXPECT_EQ((*s)->get(kArn, "", prev->version_id)->value, "first-PLAINTEXT-1");
  EXPECT_EQ((*s)->get(kArn, "green").status().code(), Code::kNotFound);
  EXPECT_EQ((*s)->get("unknown", "AWSCURRENT").status().code(), Code::kNotFound);
  auto bin = (*s)->get(kArn2, "AWSCURRENT");
  ASSERT_TRUE(bin);
  EXPECT_TRUE(bin->binary);
  EXPECT_EQ(bin->value, std::string("\x00\x01\xfe", 3));
}

TEST(SecretStoreTest, OtherWriterPickedUpAndWrongKeyRefused) {
  TempDir d;
  auto o = opts(d);
  auto reader = SecretStore::open(o);
  ASSERT_TRUE(reader);
  auto writer = SecretStore::open(o);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->put(kArn, "v", false, {}, 1));
  // reader started before the file existed: it adopts the file's data key on reload
  ASSERT_TRUE((*reader)->reloadIfChanged());
  EXPECT_EQ((*reader)->get(kArn, "AWSCURRENT")->value, "v");
  // a different RSA key cannot unwrap the data key
  auto o2 = o;
  o2.key_path = d.path() + "/other.key";
  ASSERT_TRUE(generateRsaKeyFile(o2.key_path));
  auto bad = SecretStore::open(o2);
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
}

class SecretServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = SecretStore::open(opts(dir_));
    ASSERT_TRUE(s);
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->put(kArn, "s3cr3t", false, {}, 1560000000000));
    ASSERT_TRUE(store_->put(kArn, "newer", false, {"AWSCURRENT"}, 1560000001000));
    ASSERT_TRUE(store_->put(kArn2, std::string("\x01\x02", 2), true, {}, 1560000002000));
    group::Group g;
    group::Resource r;
    r.id = "res-db";
    r.kind = group::Resource::Kind::kSecret;
    r.secret_arn = kArn;
    r.additional_staging_labels = std::vector<std::string>{"AWSPREVIOUS"};
    g.resources.push_back(r);
    r.id = "res-api";
    r.secret_arn = kArn2;
    r.additional_staging_labels.reset();
    g.resources.push_back(r);
    group::Function fa;
    fa.arn = kFnA;
    fa.configuration.emplace();
    fa.configuration->environment.emplace();
    fa.configuration->environment->resource_access_policies =
        std::vector<group::ResourceAccessPolicy>{{"res-db", "ro"}, {"res-api", "ro"}};
    g.functions.push_back(fa);
    group::Function fb;
    fb.arn = kFnB;
    g.functions.push_back(fb);
    svc_ = std::make_unique<SecretService>(*store_, Log());
    svc_->setAccess(secretAccessFromGroup(g));
  }
  json call(const char* fn, const std::string& body) { return json::parse(svc_->handle(fn, body)); }
  TempDir dir_;
  std::unique_ptr<SecretStore> store_;
  std::unique_ptr<SecretService> svc_;
};

TEST_F(SecretServiceTest, SuccessShapeExactKeys) {
  json r = call(kFnA, R"({"SecretId":"db-pass"})");
  std::set<std::string> keys;
  for (auto it = r.begin(); it != r.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"ARN", "Name", "VersionId", "SecretString",
                                         "VersionStages", "CreatedDate"}));
  EXPECT_EQ(r["ARN"], kArn);
  EXPECT_EQ(r["Name"], "db-pass");
  EXPECT_EQ(r["SecretString"], "newer");
  EXPECT_EQ(r["VersionStages"], json::array({"AWSCURRENT"}));
  EXPECT_EQ(r["CreatedDate"], 1560000001000);
  EXPECT_TRUE(r["CreatedDate"].is_number_integer());
}

TEST_F(SecretServiceTest, StageSelectionAndBinary) {
  EXPECT_EQ(call(kFnA, std::string(R"({"SecretId":")") + kArn +
                           R"(","VersionStage":"AWSPREVIOUS"})")["SecretString"],
            "s3cr3t");
  // stage not downloaded per the resource
  EXPECT_EQ(call(kFnA, R"({"SecretId":"api","VersionStage":"AWSPREVIOUS"})")["Status"], 404);
  json b = call(kFnA, R"({"SecretId":"api"})");
  EXPECT_EQ(b["SecretBinary"], "AQI=");
  EXPECT_FALSE(b.contains("SecretString"));
}

TEST_F(SecretServiceTest, Errors) {
  auto status = [&](const char* fn, const std::string& body) {
    json r = call(fn, body);
    std::set<std::string> keys;
    for (auto it = r.begin(); it != r.end(); ++it) keys.insert(it.key());
    EXPECT_EQ(keys, (std::set<std::string>{"Status", "Message"})) << r.dump();
    return r["Status"].get<int>();
  };
  EXPECT_EQ(status(kFnB, R"({"SecretId":"db-pass"})"), 401);  // not referenced (v1: 401)
  EXPECT_EQ(status(kFnA, R"({"SecretId":"unknown"})"), 404);
  EXPECT_EQ(status(kFnA, R"({})"), 400);
  EXPECT_EQ(status(kFnA, "garbage"), 400);
  EXPECT_EQ(status(kFnA, R"({"SecretId":"db-pass","VersionId":"x","VersionStage":"y"})"), 400);
  EXPECT_EQ(status(kFnA, R"({"SecretId":"db-pass","VersionId":"nope"})"), 404);
  EXPECT_EQ(svc_->stats().refused, 1u);
}

TEST_F(SecretServiceTest, InGroupButNoLocalValue404) {
  group::Group g;
  group::Resource r;
  r.id = "res-x";
  r.kind = group::Resource::Kind::kSecret;
  r.secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-QwErTy";
  g.resources.push_back(r);
  group::Function fa;
  fa.arn = kFnA;
  fa.configuration.emplace();
  fa.configuration->environment.emplace();
  fa.configuration->environment->resource_access_policies =
      std::vector<group::ResourceAccessPolicy>{{"res-x", "ro"}};
  g.functions.push_back(fa);
  svc_->setAccess(secretAccessFromGroup(g));
  json e = call(kFnA, R"({"SecretId":"missing"})");
  EXPECT_EQ(e["Status"], 404);
  EXPECT_NE(e["Message"].get<std::string>().find("secrets put"), std::string::npos);
}

}  // namespace
}  // namespace evg::secrets

namespace evg::secrets {
namespace {

// A fresh root: the default config names certs/core.private.key, which does not exist until the
// core is provisioned. Secrets must work anyway, with a generated 0600 key.
TEST(SecretKeyChoiceTest, FreshRootGetsAGeneratedKeyConfiguredKeyWhenPresent) {
  char tmpl[] = "/tmp/evg_secret_key_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  const std::string store = dir + "/var/secrets/secrets.json";
  const std::string core_key = dir + "/certs/core.private.key";
  const std::string generated = dir + "/certs/secrets.key";
  auto p = chooseSecretsKey(store, core_key, generated);
  EXPECT_EQ(p.key_path, generated);
  EXPECT_FALSE(p.key_configured);
  SecretStoreOptions o{store, p.key_path, !p.key_configured};
  auto s = SecretStore::open(o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  ASSERT_TRUE(
      (*s)->put("arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf", "v", false, {}, 1)
          .isOk());
  EXPECT_EQ(std::filesystem::status(generated).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // The core key appears later: the store stays with the key that wrapped it.
  std::filesystem::copy_file(generated, core_key);
  EXPECT_EQ(chooseSecretsKey(store, core_key, generated).key_path, generated);
  // A provisioned core (configured key present, nothing generated): the configured key.
  std::filesystem::remove(generated);
  p = chooseSecretsKey(store, core_key, generated);
  EXPECT_EQ(p.key_path, core_key);
  EXPECT_TRUE(p.key_configured);
  // No key configured at all: the generated one.
  EXPECT_EQ(chooseSecretsKey(store, "", generated).key_path, generated);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg::secrets
