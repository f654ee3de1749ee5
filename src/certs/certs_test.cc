#include "certs/certs.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace evg::certs {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// Parsed with plain OpenSSL, independent of the code under test.
std::shared_ptr<X509> readX509(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return nullptr;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return std::shared_ptr<X509>(x, X509_free);
}

std::string commonName(X509* x) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
  return buf;
}

unsigned modeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

// `openssl x509 -noout -fingerprint -sha256`, lowercased, colons removed.
std::string cliFingerprint(const std::string& path) {
  std::string cmd = "openssl x509 -noout -fingerprint -sha256 -in '" + path + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  char buf[512] = {};
  std::string out = std::fgets(buf, sizeof buf, p) ? buf : "";
  ::pclose(p);
  out = out.substr(out.find('=') + 1);
  std::string fp;
  for (char c : out) {
    if (std::isxdigit(static_cast<unsigned char>(c))) fp += static_cast<char>(std::tolower(c));
  }
  return fp;
}

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_certs_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ca_ = dir_ + "/ca";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string p(const std::string& name) const { return ca_ + "/" + name; }

  std::string dir_, ca_;
};

TEST_F(CertsTest, GroupCaIsSelfSignedTenYearCaWithPrivateKey) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  EXPECT_EQ(modeOf(p("group-ca.key")), 0600u);
  auto ca = readX509(p("group-ca.pem"));
  ASSERT_TRUE(ca);
  EXPECT_EQ(commonName(ca.get()).rfind("Evergreen Group CA ", 0), 0u) << commonName(ca.get());
  EXPECT_EQ(commonName(ca.get()).size(), std::string("Evergreen Group CA ").size() + 8);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_verify(ca.get(), X509_get0_pubkey(ca.get())), 1);
  int days = 0, secs = 0;
  ASSERT_TRUE(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(ca.get())));
  EXPECT_GE(days, 3649);
  EXPECT_LE(days, 3650);
  EXPECT_TRUE(verifyAgainstCa(p("group-ca.pem"), p("group-ca.pem")).isOk());
}

TEST_F(CertsTest, EnsureIsIdempotent) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  ASSERT_TRUE(ensureServerCert(ca_, {"core.local"}, {"10.0.0.5"}).isOk());
  std::string files[] = {"group-ca.key", "group-ca.pem", "server.key", "server.pem"};
  std::vector<std::string> before;
  for (const auto& f : files) before.push_back(slurp(p(f)));
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  ASSERT_TRUE(ensureServerCert(ca_, {"core.local"}, {"10.0.0.5"}).isOk());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(slurp(p(files[i])), before[i]) << files[i];
}

TEST_F(CertsTest, ServerCertVerifiesWithServerAuthAndSans) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  ASSERT_TRUE(ensureServerCert(ca_, {"core.local", "localhost"}, {"10.0.0.5", "::1"}).isOk());
  EXPECT_EQ(modeOf(p("server.key")), 0600u);
  EXPECT_TRUE(verifyAgainstCa(p("server.pem"), p("group-ca.pem"), Purpose::kTlsServer).isOk());
  Status as_client = verifyAgainstCa(p("server.pem"), p("group-ca.pem"), Purpose::kTlsClient);
  EXPECT_EQ(as_client.code(), Code::kForbidden) << as_client.toString();

  auto cert = readX509(p("server.pem"));
  ASSERT_TRUE(cert);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_FALSE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "core.local", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.local", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.5", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.6", 0), 0);

  auto sans = subjectAltNames(p("server.pem"));
  ASSERT_TRUE(sans.isOk());
  std::vector<std::string> want{"DNS:localhost", "DNS:core.local", "IP:127.0.0.1", "IP:10.0.0.5",
                                "IP:::1"};
  EXPECT_EQ(*sans, want);
}

TEST_F(CertsTest, ServerCertReissuedOnSanChangeCaChangeAndNearExpiry) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  ASSERT_TRUE(ensureServerCert(ca_, {}, {}).isOk());
  std::string first = slurp(p("server.pem"));

  ASSERT_TRUE(ensureServerCert(ca_, {"new.local"}, {}).isOk());
  std::string second = slurp(p("server.pem"));
  EXPECT_NE(second, first);

  CertOptions renew_always;
  renew_always.renew_before_days = renew_always.leaf_validity_days + 1;
  ASSERT_TRUE(ensureServerCert(ca_, {"new.local"}, {}, renew_always).isOk());
  std::string third = slurp(p("server.pem"));
  EXPECT_NE(third, second);

  fs::remove(p("group-ca.pem"));
  fs::remove(p("group-ca.key"));
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  EXPECT_EQ(verifyAgainstCa(p("server.pem"), p("group-ca.pem")).code(), Code::kForbidden);
  ASSERT_TRUE(ensureServerCert(ca_, {"new.local"}, {}).isOk());
  EXPECT_NE(slurp(p("server.pem")), third);
  EXPECT_TRUE(verifyAgainstCa(p("server.pem"), p("group-ca.pem"), Purpose::kTlsServer).isOk());
}

TEST_F(CertsTest, DeviceCertHasClientAuthCnAndCliFingerprint) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  auto dev = issueDeviceCert(ca_, "Sensor_1:a-b", dir_ + "/devices");
  ASSERT_TRUE(dev.isOk()) << dev.status().toString();
  EXPECT_EQ(dev->cert_path, dir_ + "/devices/Sensor_1:a-b.pem");
  EXPECT_EQ(dev->key_path, dir_ + "/devices/Sensor_1:a-b.key");
  EXPECT_EQ(modeOf(dev->key_path), 0600u);
  EXPECT_TRUE(verifyAgainstCa(dev->cert_path, p("group-ca.pem"), Purpose::kTlsClient).isOk());
  EXPECT_FALSE(verifyAgainstCa(dev->cert_path, p("group-ca.pem"), Purpose::kTlsServer).isOk());

  auto cert = readX509(dev->cert_path);
  ASSERT_TRUE(cert);
  EXPECT_EQ(commonName(cert.get()), "Sensor_1:a-b");
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_FALSE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);

  EXPECT_EQ(dev->sha256_fingerprint.size(), 64u);
  EXPECT_EQ(dev->sha256_fingerprint, cliFingerprint(dev->cert_path));
  auto from_file = fingerprintSha256OfPemFile(dev->cert_path);
  ASSERT_TRUE(from_file.isOk());
  EXPECT_EQ(*from_file, dev->sha256_fingerprint);
  ASSERT_TRUE(ensureServerCert(ca_, {}, {}).isOk());
  auto server_fp = fingerprintSha256OfPemFile(p("server.pem"));
  ASSERT_TRUE(server_fp.isOk());
  EXPECT_EQ(*server_fp, cliFingerprint(p("server.pem")));

  // Re-issue: new key, new fingerprint.
  auto again = issueDeviceCert(ca_, "Sensor_1:a-b", dir_ + "/devices");
  ASSERT_TRUE(again.isOk());
  EXPECT_NE(again->sha256_fingerprint, dev->sha256_fingerprint);
}

TEST_F(CertsTest, DeviceCertFromAnotherCaIsRejected) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  std::string other = dir_ + "/other";
  ASSERT_TRUE(ensureGroupCa(other).isOk());
  auto dev = issueDeviceCert(other, "thing", dir_ + "/devices");
  ASSERT_TRUE(dev.isOk());
  Status s = verifyAgainstCa(dev->cert_path, p("group-ca.pem"), Purpose::kTlsClient);
  EXPECT_EQ(s.code(), Code::kForbidden);
  EXPECT_NE(s.message().find("unable to get local issuer"), std::string::npos) << s.message();
}

TEST_F(CertsTest, FingerprintOfDerMatchesPemAndRejectsGarbage) {
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  auto cert = readX509(p("group-ca.pem"));
  ASSERT_TRUE(cert);
  unsigned char* der = nullptr;
  int n = i2d_X509(cert.get(), &der);
  ASSERT_GT(n, 0);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  auto fp = fingerprintSha256OfDer(bytes);
  ASSERT_TRUE(fp.isOk());
  EXPECT_EQ(*fp, cliFingerprint(p("group-ca.pem")));
  EXPECT_EQ(*fingerprintSha256OfX509(cert.get()), *fp);
  EXPECT_EQ(fingerprintSha256OfDer(bytes + "x").status().code(), Code::kInvalid);
  EXPECT_EQ(fingerprintSha256OfDer("not a cert").status().code(), Code::kInvalid);
  EXPECT_EQ(fingerprintSha256OfDer("").status().code(), Code::kInvalid);
  EXPECT_EQ(fingerprintSha256OfX509(nullptr).status().code(), Code::kInvalid);

  auto pem = pemOfCertFile(p("group-ca.pem"));
  ASSERT_TRUE(pem.isOk());
  EXPECT_EQ(*pem, slurp(p("group-ca.pem")));
}

TEST_F(CertsTest, BadInputsGiveClearErrors) {
  // No CA yet.
  auto no_ca = issueDeviceCert(ca_, "thing", dir_ + "/devices");
  EXPECT_EQ(no_ca.status().code(), Code::kNotFound) << no_ca.status().toString();
  EXPECT_EQ(ensureServerCert(ca_, {}, {}).code(), Code::kNotFound);
  EXPECT_EQ(fingerprintSha256OfPemFile(dir_ + "/nope.pem").status().code(), Code::kNotFound);

  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  for (const char* bad : {"a/b", "", "../x", "sp ace", "x\n"}) {
    auto r = issueDeviceCert(ca_, bad, dir_ + "/devices");
    EXPECT_EQ(r.status().code(), Code::kInvalid) << bad;
  }
  EXPECT_FALSE(isValidThingName(std::string(129, 'a')));
  EXPECT_TRUE(isValidThingName(std::string(128, 'a')));
  EXPECT_FALSE(fs::exists(dir_ + "/devices/a"));

  Status bad_dns = ensureServerCert(ca_, {"a,DNS:evil"}, {});
  EXPECT_EQ(bad_dns.code(), Code::kInvalid);
  EXPECT_NE(bad_dns.message().find("a,DNS:evil"), std::string::npos);
  EXPECT_EQ(ensureServerCert(ca_, {}, {"300.1.1.1"}).code(), Code::kInvalid);
  EXPECT_EQ(ensureServerCert(ca_, {}, {"localhost"}).code(), Code::kInvalid);

  spit(dir_ + "/garbage.pem", "-----BEGIN CERTIFICATE-----\nzzzz\n");
  EXPECT_EQ(fingerprintSha256OfPemFile(dir_ + "/garbage.pem").status().code(), Code::kInvalid);

  // A CA certificate whose key is missing is never silently replaced.
  std::string pem_before = slurp(p("group-ca.pem"));
  fs::remove(p("group-ca.key"));
  EXPECT_EQ(ensureGroupCa(ca_).code(), Code::kNotFound);
  EXPECT_EQ(slurp(p("group-ca.pem")), pem_before);

  // A key that does not belong to the certificate.
  std::string other = dir_ + "/other";
  ASSERT_TRUE(ensureGroupCa(other).isOk());
  fs::copy_file(other + "/group-ca.key", p("group-ca.key"));
  EXPECT_EQ(ensureGroupCa(ca_).code(), Code::kCorruption);
  EXPECT_EQ(issueDeviceCert(ca_, "t", dir_).status().code(), Code::kCorruption);

  // Key without certificate: a new CA certificate is self-signed with the existing key.
  fs::remove(p("group-ca.pem"));
  std::string key_before = slurp(p("group-ca.key"));
  ASSERT_TRUE(ensureGroupCa(ca_).isOk());
  EXPECT_EQ(slurp(p("group-ca.key")), key_before);
  EXPECT_TRUE(verifyAgainstCa(p("group-ca.pem"), p("group-ca.pem")).isOk());
}

TEST_F(CertsTest, RevokedListParsesNormalisesAndRejects) {
  auto missing = loadRevokedList(dir_ + "/revoked.txt");
  ASSERT_TRUE(missing.isOk());
  EXPECT_TRUE(missing->empty());

  std::string a(64, 'a'), b = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  std::string b_colons;
  for (size_t i = 0; i < b.size(); i += 2) {
    b_colons += (i ? ":" : "") + b.substr(i, 2);
  }
  std::transform(b_colons.begin(), b_colons.end(), b_colons.begin(), ::toupper);
  spit(dir_ + "/revoked.txt",
       "# revoked devices\n\n" + a + "  # lost sensor\n  " + b_colons + "\r\n" + a + "\n");
  auto list = loadRevokedList(dir_ + "/revoked.txt");
  ASSERT_TRUE(list.isOk()) << list.status().toString();
  EXPECT_EQ(*list, (std::set<std::string>{a, b}));

  spit(dir_ + "/bad.txt", a + "\nnot-a-fingerprint\n");
  auto bad = loadRevokedList(dir_ + "/bad.txt");
  EXPECT_EQ(bad.status().code(), Code::kInvalid);
  EXPECT_NE(bad.status().message().find("bad.txt:2"), std::string::npos) << bad.status().message();
  spit(dir_ + "/short.txt", std::string(63, 'a') + "\n");
  EXPECT_EQ(loadRevokedList(dir_ + "/short.txt").status().code(), Code::kInvalid);

  CertOptions tiny;
  tiny.max_revoked_entries = 1;
  EXPECT_EQ(loadRevokedList(dir_ + "/revoked.txt", tiny).status().code(), Code::kTooLarge);
  tiny.max_file_bytes = 10;
  EXPECT_EQ(loadRevokedList(dir_ + "/revoked.txt", tiny).status().code(), Code::kTooLarge);
}

}  // namespace
}  // namespace evg::certs
