#pragma once
// `evergreen secrets ...` — supply secret values to the core (v1 fetched them from AWS Secrets
// Manager at deployment; Evergreen cannot, so the value is given locally):
//
//   evergreen secrets put --root DIR --arn ARN (--string S | --file F) [--binary]
//                         [--stage LABEL]...
//   evergreen secrets list --root DIR          ARNs, version ids, stages (never values)
//
// --file stores the file's bytes as SecretBinary when --binary is given, else as SecretString.
// Without --stage the version is labelled AWSCURRENT (the previous AWSCURRENT becomes
// AWSPREVIOUS). The value is never printed or logged. A running core picks the new value up at
// its next get_secret_value (no redeploy needed).
//
// Key (chooseSecretsKey): DIR/certs/secrets.key when it exists (the store was wrapped with it);
// else config.json crypto.principals.SecretsManager.privateKeyPath (RSA) when configured and
// present; else DIR/certs/secrets.key, generated (RSA-2048, mode 0600) on first use. So a fresh
// root, whose default config names a core key that does not exist yet, supports secrets out of
// the box. Store: DIR/var/secrets/secrets.json (see secret_store.h).
// Exit codes: 0 ok, 2 usage/invalid input, 1 other errors.

#include <ostream>
#include <string>

#include "base/status.h"

namespace evg::secrets {

struct SecretPaths {
  std::string store_path;
  std::string key_path;
  bool key_configured = false;  // from config.json (never generated then)
};
// The key rule above. `configured_key` is crypto.principals.SecretsManager.privateKeyPath
// ("" when none); `generated_key` is DIR/certs/secrets.key.
SecretPaths chooseSecretsKey(const std::string& store_path, const std::string& configured_key,
                             const std::string& generated_key);
// Resolves the store and key paths of a core root (reads DIR/config/config.json if present).
Result<SecretPaths> secretPathsForRoot(const std::string& root);

// argv[0] is "secrets".
int runSecretsCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace evg::secrets
