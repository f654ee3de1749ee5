#pragma once
// CredentialSource: the seam through which IpcCore answers E9, the token exchange endpoint
// `GET /2016-11-01/credentialprovider/` (reference ggv1-protocol.md §1.3 E9, §7.5) that the AWS
// SDKs inside functions call through AWS_CONTAINER_CREDENTIALS_FULL_URI with
// `Authorization: <AWS_CONTAINER_AUTHORIZATION_TOKEN>`.
//
// IpcCore authenticates the worker token first (missing 401, unknown/revoked 403), then asks the
// source. The source answers through `done` exactly once, either synchronously (from its cache)
// or later (the first fetch is in flight); a late answer whose client went away is dropped by
// IpcCore. Success body: {"AccessKeyId","SecretAccessKey","Token","Expiration"} (ECS container
// credentials shape). Without a source E9 answers 503 naming the missing configuration.
//
// Threading: called on the IPC core's loop; `done` must be called there too.

#include <functional>
#include <string>

#include "ipc/http_types.h"

namespace evg::ipc {

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // `caller_arn`: the function whose worker token was presented.
  virtual void credentials(const std::string& caller_arn,
                           std::function<void(HttpResponse)> done) = 0;
};

}  // namespace evg::ipc
