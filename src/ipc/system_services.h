#pragma once
// SystemServices: the narrow seam through which IpcCore answers the Core SDK's system functions
// GGShadowService and GGSecretManager:1 (reference ggv1-protocol.md §1.7, §3.3, §3.4).
//
// Both are RequestResponse invocations answered synchronously from memory (the shadow service
// commits its store before returning; see src/shadow/README.md): IpcCore stores the returned body
// as the invocation's result, the caller's E2 gets 200 with an EMPTY X-Amz-Function-Error (the
// Python SDK's ShadowError / SecretsManagerError traps) and the body. Errors are therefore bodies
// ({"code","message","timestamp"} for shadows, {"Status","Message"} for secrets), never HTTP
// errors.
//
// Threading: called on the IPC core's loop.

#include <string>

namespace evg::ipc {

class SystemServices {
 public:
  virtual ~SystemServices() = default;
  // GGShadowService: `subject` is the client context's custom.subject
  // ($aws/things/<thing>/shadow/<get|update|delete>, "" when absent), `caller_arn` the invoking
  // function (from its token). Returns the E2 body.
  virtual std::string shadowInvoke(const std::string& caller_arn, const std::string& subject,
                                   const std::string& body) = 0;
  // GGSecretManager:1: `body` is {"SecretId":...,"VersionStage"?...}. Returns the E2 body.
  virtual std::string secretInvoke(const std::string& caller_arn, const std::string& body) = 0;
};

}  // namespace evg::ipc
