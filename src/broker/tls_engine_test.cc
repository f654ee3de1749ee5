#include "broker/tls_engine.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace evg::broker {
namespace {

// In-memory PKI: a CA and leaf certificates it signs (P-256), no files, no openssl CLI.
struct Key {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  ~Key() { EVP_PKEY_free(k); }
};

X509* makeCert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<int>(std::hash<std::string>()(cn) >> 33));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  if (ca) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, issuer_key, EVP_sha256());
  return x;
}

class TlsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = makeCert("TestCA", ca_key_.k, nullptr, ca_key_.k, true);
    server_cert_ = makeCert("localhost", server_key_.k, ca_, ca_key_.k, false);
    client_cert_ = makeCert("ThingA", client_key_.k, ca_, ca_key_.k, false);
    stranger_ca_ = makeCert("OtherCA", stranger_key_.k, nullptr, stranger_key_.k, true);
    stranger_cert_ = makeCert("Stranger", stranger_key_.k, stranger_ca_, stranger_key_.k, false);

    sctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(sctx_, TLS1_2_VERSION);
    SSL_CTX_use_certificate(sctx_, server_cert_);
    SSL_CTX_use_PrivateKey(sctx_, server_key_.k);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx_), ca_);
    SSL_CTX_set_verify(sctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  void TearDown() override {
    SSL_CTX_free(sctx_);
    SSL_CTX_free(cctx_);
    for (X509* x : {ca_, server_cert_, client_cert_, stranger_ca_, stranger_cert_}) X509_free(x);
  }
  // A client context presenting `cert` (nullptr: none), trusting our CA, at most `max_version`.
  void clientContext(X509* cert, EVP_PKEY* key, int max_version = 0) {
    cctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version != 0) SSL_CTX_set_max_proto_version(cctx_, max_version);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx_), ca_);
    SSL_CTX_set_verify(cctx_, SSL_VERIFY_PEER, nullptr);
    if (cert != nullptr) {
      SSL_CTX_use_certificate(cctx_, cert);
      SSL_CTX_use_PrivateKey(cctx_, key);
    }
  }
  std::unique_ptr<TlsEngine> engine(SSL_CTX* ctx, bool server) {
    auto e = TlsEngine::create(ctx, bio_, server);
    EXPECT_TRUE(e.isOk()) << e.status().toString();
    auto p = std::make_unique<TlsEngine>(std::move(e).value());
    verify_.erase(p.get());  // a previous engine's callback at the same address
    return p;
  }
  // The verify callback pump() passes to `e`'s handshake.
  void verifyOn(const TlsEngine& e, TlsEngine::Verify v) { verify_[&e] = std::move(v); }
  // Moves `from`'s output into `to` (in `step`-byte pieces; 0: at once) and runs `to`'s
  // handshake or read. Returns `to`'s state; plaintext read is appended to `plain`.
  TlsEngine::State pump(TlsEngine& from, TlsEngine& to, std::string& plain, size_t step = 0) {
    std::string wire;
    from.takeOutput(wire);
    TlsEngine::State st = TlsEngine::State::kNeedInput;
    size_t off = 0;
    do {
      const size_t n = step == 0 ? wire.size() : std::min(step, wire.size() - off);
      to.input(std::string_view(wire).substr(off, n));
      off += n;
      if (!to.established()) {
        auto v = verify_.find(&to);
        st = to.handshake(v != verify_.end() ? v->second : TlsEngine::Verify());
        if (st == TlsEngine::State::kFailed) return st;
      }
      if (to.established()) {
        st = to.read(scratch_, sizeof scratch_, [&](std::string_view p) {
          plain.append(p);
          return true;
        });
        if (st != TlsEngine::State::kNeedInput) return st;
      }
      EXPECT_EQ(to.inputLeft(), 0u);
    } while (off < wire.size());
    return to.established() && st == TlsEngine::State::kNeedInput ? TlsEngine::State::kDone : st;
  }
  // Runs the handshake between client and server to the end (or a failure).
  bool handshake(TlsEngine& c, TlsEngine& s, size_t step = 0) {
    std::string ignore;
    EXPECT_EQ(c.handshake(), TlsEngine::State::kNeedInput);  // ClientHello out
    for (int round = 0; round < 10; ++round) {
      if (pump(c, s, ignore, step) == TlsEngine::State::kFailed) return false;
      if (pump(s, c, ignore, step) == TlsEngine::State::kFailed) return false;
      if (c.established() && s.established() && !c.hasOutput() && !s.hasOutput()) return true;
    }
    return false;
  }

  TlsBio bio_;
  std::map<const TlsEngine*, TlsEngine::Verify> verify_;
  Key ca_key_, server_key_, client_key_, stranger_key_;
  X509 *ca_ = nullptr, *server_cert_ = nullptr, *client_cert_ = nullptr;
  X509 *stranger_ca_ = nullptr, *stranger_cert_ = nullptr;
  SSL_CTX* sctx_ = nullptr;
  SSL_CTX* cctx_ = nullptr;
  char scratch_[16384];
};

TEST_F(TlsEngineTest, MutualTlsHandshakeAndDataBothWays) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    clientContext(client_cert_, client_key_.k, version);
    auto c = engine(cctx_, false);
    auto s = engine(sctx_, true);
    std::string seen_cn;
    verifyOn(*s, [&](bool pre, X509_STORE_CTX* ctx) {
      if (pre && X509_STORE_CTX_get_error_depth(ctx) == 0) {
        char cn[64] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(X509_STORE_CTX_get_current_cert(ctx)),
                                  NID_commonName, cn, sizeof cn);
        seen_cn = cn;
      }
      return pre;
    });
    ASSERT_TRUE(handshake(*c, *s)) << s->error() << " / " << c->error();
    EXPECT_EQ(seen_cn, "ThingA");
    EXPECT_EQ(SSL_version(s->ssl()), version);

    std::string got;
    ASSERT_TRUE(c->write("CONNECT").isOk());
    EXPECT_EQ(pump(*c, *s, got), TlsEngine::State::kDone);
    EXPECT_EQ(got, "CONNECT");
    got.clear();
    ASSERT_TRUE(s->write("CONNACK").isOk());
    ASSERT_TRUE(s->write("+PUBLISH").isOk());
    EXPECT_EQ(pump(*s, *c, got), TlsEngine::State::kDone);
    EXPECT_EQ(got, "CONNACK+PUBLISH");
    EXPECT_FALSE(s->hasOutput());
    SSL_CTX_free(cctx_);
    cctx_ = nullptr;
  }
}

TEST_F(TlsEngineTest, BytesArrivingOneAtATimeAndLargeWrites) {
  clientContext(client_cert_, client_key_.k);
  auto c = engine(cctx_, false);
  auto s = engine(sctx_, true);
  ASSERT_TRUE(handshake(*c, *s, /*step=*/1)) << s->error();
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  ASSERT_TRUE(s->write(big).isOk());
  std::string got;
  EXPECT_EQ(pump(*s, *c, got, /*step=*/4093), TlsEngine::State::kDone);
  EXPECT_EQ(got, big);
  got.clear();
  ASSERT_TRUE(c->write("tiny").isOk());
  EXPECT_EQ(pump(*c, *s, got, 1), TlsEngine::State::kDone);
  EXPECT_EQ(got, "tiny");
}

TEST_F(TlsEngineTest, VerifyCallbackRefusalFailsTheHandshakeAndTellsTheClient) {
  clientContext(client_cert_, client_key_.k);
  auto c = engine(cctx_, false);
  auto s = engine(sctx_, true);
  verifyOn(*s, [](bool, X509_STORE_CTX*) { return false; });
  EXPECT_FALSE(handshake(*c, *s));
  EXPECT_FALSE(s->established());
  EXPECT_NE(s->error().find("certificate verify failed"), std::string::npos) << s->error();
  // The alert the server produced reaches the client, which then fails too.
  std::string ignore;
  EXPECT_TRUE(s->hasOutput());
  EXPECT_EQ(pump(*s, *c, ignore), TlsEngine::State::kFailed);
}

TEST_F(TlsEngineTest, CertificateFromAnotherCaIsRefusedUnlessTheCallbackPinsIt) {
  for (bool pin : {false, true}) {
    SCOPED_TRACE(pin);
    clientContext(stranger_cert_, stranger_key_.k);
    auto c = engine(cctx_, false);
    auto s = engine(sctx_, true);
    verifyOn(*s, [pin](bool pre, X509_STORE_CTX*) { return pre || pin; });
    EXPECT_EQ(handshake(*c, *s), pin) << s->error();
    if (!pin) {
      EXPECT_NE(s->error().find("certificate"), std::string::npos) << s->error();
    }
    SSL_CTX_free(cctx_);
    cctx_ = nullptr;
  }
}

TEST_F(TlsEngineTest, NoClientCertificateIsRefused) {
  clientContext(nullptr, nullptr);
  auto c = engine(cctx_, false);
  auto s = engine(sctx_, true);
  EXPECT_FALSE(handshake(*c, *s));
  EXPECT_NE(s->error().find("certificate"), std::string::npos) << s->error();
}

TEST_F(TlsEngineTest, GarbageIsAFailureNamingTheProblemAndCloseNotifyIsClosed) {
  auto s = engine(sctx_, true);
  s->input("MQTT over plaintext on the TLS port\r\n\r\n");
  EXPECT_EQ(s->handshake(), TlsEngine::State::kFailed);
  EXPECT_FALSE(s->error().empty());
  EXPECT_NE(s->error().find("TLS error: "), std::string::npos) << s->error();

  clientContext(client_cert_, client_key_.k);
  auto c = engine(cctx_, false);
  auto s2 = engine(sctx_, true);
  ASSERT_TRUE(handshake(*c, *s2));
  c->shutdown();  // close_notify
  ASSERT_TRUE(c->hasOutput());
  std::string got;
  EXPECT_EQ(pump(*c, *s2, got), TlsEngine::State::kClosed);
  EXPECT_EQ(s2->error(), "peer sent close_notify");
}

// Every session shares the one BIO: sessions in the middle of their handshakes at the same time,
// fed a byte at a time in turn, each get their own bytes, output, verify callback and verdict.
TEST_F(TlsEngineTest, InterleavedSessionsOnTheSharedBioKeepTheirOwnState) {
  clientContext(client_cert_, client_key_.k);
  SSL_CTX* stranger_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_use_certificate(stranger_ctx, stranger_cert_);
  SSL_CTX_use_PrivateKey(stranger_ctx, stranger_key_.k);
  struct Pair {
    std::unique_ptr<TlsEngine> c, s;
    std::string seen_cn;
    int verify_calls = 0;
    bool failed = false;
  };
  Pair pairs[3];
  for (int i = 0; i < 3; ++i) {
    Pair& p = pairs[i];
    p.c = engine(i == 1 ? stranger_ctx : cctx_, false);
    p.s = engine(sctx_, true);
    verifyOn(*p.s, [&p](bool pre, X509_STORE_CTX* ctx) {
      ++p.verify_calls;
      if (pre && X509_STORE_CTX_get_error_depth(ctx) == 0) {
        char cn[64] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(X509_STORE_CTX_get_current_cert(ctx)),
                                  NID_commonName, cn, sizeof cn);
        p.seen_cn = cn;
      }
      return pre;
    });
    EXPECT_EQ(p.c->handshake(), TlsEngine::State::kNeedInput);  // ClientHello out
  }
  std::string ignore;
  for (int round = 0; round < 10; ++round) {
    for (Pair& p : pairs) {
      if (p.failed) continue;
      p.failed = pump(*p.c, *p.s, ignore, 1) == TlsEngine::State::kFailed ||
                 pump(*p.s, *p.c, ignore, 1) == TlsEngine::State::kFailed;
    }
  }
  for (int i : {0, 2}) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(pairs[i].s->established()) << pairs[i].s->error();
    EXPECT_EQ(pairs[i].seen_cn, "ThingA");
    EXPECT_EQ(pairs[i].verify_calls, 2);  // CA, then leaf
  }
  EXPECT_FALSE(pairs[1].s->established());
  EXPECT_NE(pairs[1].s->error().find("certificate verify failed"), std::string::npos)
      << pairs[1].s->error();
  EXPECT_EQ(pairs[1].seen_cn, "");
  for (int i : {0, 2}) {
    std::string got;
    ASSERT_TRUE(pairs[i].c->write("from client " + std::to_string(i)).isOk());
    ASSERT_TRUE(pairs[2 - i].s->write("from server " + std::to_string(2 - i)).isOk());
    EXPECT_EQ(pump(*pairs[i].c, *pairs[i].s, got), TlsEngine::State::kDone);
    EXPECT_EQ(got, "from client " + std::to_string(i));
    got.clear();
    EXPECT_EQ(pump(*pairs[2 - i].s, *pairs[2 - i].c, got), TlsEngine::State::kDone);
    EXPECT_EQ(got, "from server " + std::to_string(2 - i));
  }
  SSL_CTX_free(stranger_ctx);
}

// The engine is a value (held inline by its connection): it moves, and outlives the TlsBio it
// was created with (its session holds its own reference to the BIO).
TEST_F(TlsEngineTest, EngineMovesAndOutlivesItsBio) {
  clientContext(client_cert_, client_key_.k);
  std::optional<TlsBio> own_bio;
  own_bio.emplace();
  auto made = TlsEngine::create(sctx_, *own_bio, true);
  ASSERT_TRUE(made.isOk());
  TlsEngine moved(std::move(made).value());
  own_bio.reset();
  auto s = std::make_unique<TlsEngine>(std::move(moved));
  EXPECT_EQ(moved.ssl(), nullptr);
  auto c = engine(cctx_, false);
  ASSERT_TRUE(handshake(*c, *s)) << s->error();
  std::string got;
  ASSERT_TRUE(c->write("still here").isOk());
  EXPECT_EQ(pump(*c, *s, got), TlsEngine::State::kDone);
  EXPECT_EQ(got, "still here");
}

TEST_F(TlsEngineTest, WriteBeforeTheHandshakeIsRefused) {
  auto s = engine(sctx_, true);
  EXPECT_EQ(s->write("x").code(), Code::kConflict);
}

}  // namespace
}  // namespace evg::broker
