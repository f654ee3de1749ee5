#include "secrets/secret_crypto.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

namespace evg::secrets {

namespace {

std::string sslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;

Result<Pkey> loadRsaKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return Status::io("cannot read secrets key " + path);
  Pkey key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!key) return Status::invalid("secrets key " + path + " is not a PEM private key");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return Status::unsupported("secrets key " + path +
                               " is not an RSA key (crypto.principals.SecretsManager must be RSA, "
                               "as in Greengrass v1)");
  }
  return key;
}

Result<PkeyCtx> oaepCtx(EVP_PKEY* key, bool encrypt) {
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (!ctx) return Status::internal("EVP_PKEY_CTX_new: " + sslError());
  int rc = encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get());
  if (rc <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) <= 0) {
    return Status::internal("RSA-OAEP setup: " + sslError());
  }
  return ctx;
}

}  // namespace

Result<std::string> randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::internal("RAND_bytes: " + sslError());
  }
  return out;
}

Result<std::string> aesGcmSeal(std::string_view key, std::string_view plaintext,
                               std::string_view aad) {
  if (key.size() != kDataKeyBytes) return Status::invalid("AES-256-GCM key must be 32 bytes");
  auto nonce = randomBytes(kNonce);
  if (!nonce) return nonce.status();
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out = *nonce;
  out.resize(kNonce + plaintext.size() + kTag);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kNonce, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kNonce + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag),
                          o + kNonce + plaintext.size()) != 1) {
    return Status::internal("AES-256-GCM encrypt: " + sslError());
  }
  return out;
}

Result<std::string> aesGcmOpen(std::string_view key, std::string_view sealed,
                               std::string_view aad) {
  if (key.size() != kDataKeyBytes) return Status::invalid("AES-256-GCM key must be 32 bytes");
  if (sealed.size() < kNonce + kTag) return Status::corruption("sealed secret too short");
  size_t n = sealed.size() - kNonce - kTag;
  const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string out(n, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::string tag(sealed.substr(kNonce + n));
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), s) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, s + kNonce, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), tag.data()) !=
          1) {
    return Status::internal("AES-256-GCM decrypt: " + sslError());
  }
  if (EVP_DecryptFinal_ex(ctx.get(), o + len, &len) != 1) {
    ERR_clear_error();
    return Status::corruption("secret does not decrypt (wrong key or tampered store)");
  }
  return out;
}

Status generateRsaKeyFile(const std::string& path) {
  Pkey key(EVP_RSA_gen(2048));
  if (!key) return Status::internal("RSA key generation: " + sslError());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("cannot create " + tmp);
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    return Status::io("cannot open " + tmp);
  }
  bool ok = PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0 && ok;
  std::fclose(f);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::io("cannot write secrets key " + path);
  }
  return Status::ok();
}

Result<std::string> rsaWrap(const std::string& key_path, std::string_view data_key) {
  auto key = loadRsaKey(key_path);
  if (!key) return key.status();
  auto ctx = oaepCtx(key->get(), true);
  if (!ctx) return ctx.status();
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data_key.data());
  if (EVP_PKEY_encrypt(ctx->get(), nullptr, &len, in, data_key.size()) <= 0) {
    return Status::internal("RSA-OAEP wrap: " + sslError());
  }
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx->get(), reinterpret_cast<unsigned char*>(out.data()), &len, in,
                       data_key.size()) <= 0) {
    return Status::internal("RSA-OAEP wrap: " + sslError());
  }
  out.resize(len);
  return out;
}

Result<std::string> rsaUnwrap(const std::string& key_path, std::string_view wrapped) {
  auto key = loadRsaKey(key_path);
  if (!key) return key.status();
  auto ctx = oaepCtx(key->get(), false);
  if (!ctx) return ctx.status();
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(wrapped.data());
  if (EVP_PKEY_decrypt(ctx->get(), nullptr, &len, in, wrapped.size()) <= 0) {
    return Status::corruption("secrets data key does not unwrap with " + key_path + ": " +
                              sslError());
  }
  std::string out(len, '\0');
  if (EVP_PKEY_decrypt(ctx->get(), reinterpret_cast<unsigned char*>(out.data()), &len, in,
                       wrapped.size()) <= 0) {
    return Status::corruption("secrets data key does not unwrap with " + key_path + ": " +
                              sslError());
  }
  out.resize(len);
  if (out.size() != kDataKeyBytes) return Status::corruption("unwrapped data key has wrong size");
  return out;
}

Result<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::invalid("base64 length is not a multiple of 4");
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return Status::invalid("not valid base64");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace evg::secrets
