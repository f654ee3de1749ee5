#pragma once
// SecretStore: secret values supplied locally (`evergreen secrets put`), encrypted at rest.
//
// File (JSON, mode 0600, replaced atomically on every put):
//   {"format":1,"keyPath":"<RSA key used>","wrappedKey":"<b64 RSA-OAEP(data key)>",
//    "secrets":[{"arn","name","versions":[{"versionId","stages":[...],"createdDate":<ms>,
//                 "binary":bool,"sealed":"<b64 AES-256-GCM(value), aad = arn|versionId>"}]}]}
// Nothing in the file is plaintext except names, ARNs, stages and dates. The data key is random
// (32 bytes), generated with the file and wrapped with the secrets principal's RSA key
// (config crypto.principals.SecretsManager.privateKeyPath; by default DIR/certs/secrets.key,
// generated RSA-2048 on first use — see README.md).
//
// Stages follow Secrets Manager: a put labels the new version with its stages (AWSCURRENT by
// default); a label moves from older versions to the new one, and the version losing
// AWSCURRENT becomes AWSPREVIOUS. Versions left without labels are dropped.
//
// Threading: not thread-safe. The daemon owns one instance on its loop; the CLI another. A
// running core picks up a put made by the CLI through reloadIfChanged() (file mtime/size).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::secrets {

inline constexpr std::string_view kStageCurrent = "AWSCURRENT";
inline constexpr std::string_view kStagePrevious = "AWSPREVIOUS";

struct SecretStoreOptions {
  std::string path;                // the store file
  std::string key_path;            // RSA private key (PEM)
  bool create_key = false;         // generate key_path (RSA-2048) when missing and no store yet
  size_t max_secrets = 200;        // v1: resources per group
  size_t max_value_bytes = 65536;  // Secrets Manager: 64 KB per value
  size_t max_versions = 10;        // kept per secret (labelled ones only)
};

struct SecretValue {
  std::string arn, name, version_id;
  std::vector<std::string> stages;
  int64_t created_ms = 0;
  bool binary = false;
  std::string value;  // plaintext (string or raw bytes)
};

// Validates a Secrets Manager ARN (arn:aws...:secretsmanager:<region>:<account>:secret:<id>) and
// returns the secret name (the id without Secrets Manager's "-XXXXXX" suffix).
Result<std::string> secretNameFromArn(std::string_view arn);

class SecretStore {
 public:
  // Opens (or, when the file does not exist, initialises in memory) the store. Errors: Io,
  // Corruption (unreadable file, key does not unwrap), Unsupported (non-RSA key).
  static Result<std::unique_ptr<SecretStore>> open(SecretStoreOptions opts);

  // Adds a version of `arn` and writes the file. Invalid: bad ARN, empty/oversize value, bad
  // stage; Busy: max_secrets reached.
  Result<SecretValue> put(const std::string& arn, const std::string& value, bool binary,
                          std::vector<std::string> stages, int64_t now_ms);
  // The version with `stage` (or `version_id` when not empty) of the secret whose ARN, name or
  // ARN-without-suffix is `secret_id`. NotFound when absent.
  Result<SecretValue> get(const std::string& secret_id, const std::string& stage,
                          const std::string& version_id = {}) const;
  // The ARN a SecretId refers to (NotFound when no stored secret matches).
  Result<std::string> resolveArn(const std::string& secret_id) const;
  // Re-reads the file if it changed on disk since it was last read or written.
  Status reloadIfChanged();
  std::vector<std::string> arns() const;

 private:
  struct Version {
    std::string version_id;
    std::vector<std::string> stages;
    int64_t created_ms = 0;
    bool binary = false;
    std::string sealed;  // raw bytes
  };
  struct Entry {
    std::string arn, name;
    std::vector<Version> versions;
  };
  explicit SecretStore(SecretStoreOptions opts) : opts_(std::move(opts)) {}
  Status load();
  Status write();
  const Entry* find(const std::string& secret_id) const;

  SecretStoreOptions opts_;
  std::string data_key_;
  std::string wrapped_key_;
  std::vector<Entry> entries_;
  int64_t file_mtime_ns_ = -1;
  int64_t file_size_ = -1;
};

}  // namespace evg::secrets
