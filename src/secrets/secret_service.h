#pragma once
// SecretService: answers GGSecretManager:1 get_secret_value calls exactly in the shapes of
// ggv1-protocol.md §3.4.
//
//   success: {"ARN","Name","VersionId","SecretString"|"SecretBinary"(base64),"VersionStages",
//             "CreatedDate"(epoch ms)} — no other keys (the Java SDK fails on unknown ones)
//   error:   {"Status":400|401|404|500,"Message":"..."} (ipc/secret_wire.h, the one place for
//            these codes) — the IPC layer sends both with an empty X-Amz-Function-Error.
//
// Authorization (v1): a function may read a secret only when one of its ResourceAccessPolicies
// references the group's SecretsManagerSecretResourceData resource for that secret.
//   SecretId matches no secret resource of the group           -> 404
//   it matches one the caller's policies do not reference       -> 401 (v1's code; the genuine
//                                                                   Java SDK knows no 403)
//   stage not AWSCURRENT nor in AdditionalStagingLabelsToDownload -> 404 (v1 never downloaded it)
//   no value stored locally (evergreen secrets put ...)          -> 404
// SecretId may be the ARN, the ARN without the 6-character suffix, or the secret name.
// Values are never logged.
//
// Threading: not thread-safe; the event loop calls everything.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "base/log.h"
#include "group/group.h"
#include "ipc/secret_wire.h"
#include "secrets/secret_store.h"

namespace evg::secrets {

struct SecretAccess {
  std::map<std::string, std::set<std::string>> function_secrets;  // function ARN -> secret ARNs
  std::map<std::string, std::set<std::string>> stages;  // secret ARN -> downloadable stages
};
// From the group's secret resources and the functions' ResourceAccessPolicies.
SecretAccess secretAccessFromGroup(const group::Group& g);

struct SecretServiceStats {
  uint64_t served = 0;
  uint64_t refused = 0;  // 401 (not authorized)
  uint64_t not_found = 0;
  uint64_t bad_requests = 0;
};

class SecretService {
 public:
  SecretService(SecretStore& store, Log log);
  void setAccess(SecretAccess access) { access_ = std::move(access); }
  // The E2 body for a get_secret_value from function `caller_arn`.
  std::string handle(const std::string& caller_arn, std::string_view body);
  SecretServiceStats stats() const { return stats_; }

 private:
  std::string error(ipc::SecretError e, const std::string& message);
  SecretStore& store_;
  Log log_;
  SecretAccess access_;
  SecretServiceStats stats_;
};

}  // namespace evg::secrets
