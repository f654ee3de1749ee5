#pragma once
// Crypto for secrets at rest (OpenSSL 3 EVP):
// * AES-256-GCM with a random 96-bit nonce; sealed form = nonce(12) | ciphertext | tag(16);
//   `aad` binds a value to its identity (ARN + version id) so entries cannot be swapped.
// * The 32-byte data key is wrapped with the secrets principal's RSA key using RSA-OAEP
//   (SHA-256, MGF1-SHA-256). v1 used the `crypto.principals.SecretsManager` RSA key the same way
//   (with PKCS#1 v1.5); non-RSA keys are refused with a message naming the key file.
// No secret material is ever logged; buffers holding keys are cleansed when freed.

#include <string>
#include <string_view>

#include "base/base64.h"  // base64Encode
#include "base/status.h"

namespace evg::secrets {

inline constexpr size_t kDataKeyBytes = 32;

// Cryptographically random bytes.
Result<std::string> randomBytes(size_t n);

Result<std::string> aesGcmSeal(std::string_view key, std::string_view plaintext,
                               std::string_view aad);
// Corruption when the tag does not verify (wrong key, tampered data or aad).
Result<std::string> aesGcmOpen(std::string_view key, std::string_view sealed, std::string_view aad);

// Generates an RSA-2048 private key as PEM (PKCS#8) and writes it with mode 0600.
Status generateRsaKeyFile(const std::string& path);
// Wrap/unwrap with the RSA private key in the PEM file `key_path`.
Result<std::string> rsaWrap(const std::string& key_path, std::string_view data_key);
Result<std::string> rsaUnwrap(const std::string& key_path, std::string_view wrapped);

// Strict (padded, a multiple of 4 characters), unlike evg::base64Decode: stored secrets.
Result<std::string> base64Decode(std::string_view text);

}  // namespace evg::secrets
