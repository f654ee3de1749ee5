#pragma once
// The wire form of GGSecretManager:1 errors (ggv1-protocol.md §3.4): the ONE place where a secrets
// failure becomes the {"Status":N,"Message":"..."} body the genuine v1 SDKs parse. The IPC layer
// stores that body as the invocation's result (E2 200, empty X-Amz-Function-Error).
//
// What the genuine clients understand (read from their code):
//   Java 1.5.0   SecretsManagerClient.handleErrorResponse: 400
//   InvalidSecretsManagerRequestException,
//                401 UnauthorizedSecretsManagerRequestException, 404
//                SecretResourceNotFoundException, 500 GGSecretsManagerException(Message); any other
//                Status -> GGSecretsManagerException("Internal Error: Unrecognized status code:
//                N").
//   Python 1.6.1 SecretsManager.get_secret_value: any body with Status and Message ->
//                SecretsManagerError("Request for secret value returned error code N with message
//                M").
//   Node 1.7.0   SecretsManager._is200Response: a body lacking any of the substrings ARN, Name,
//                VersionId, CreatedDate -> Error(JSON.stringify(payload)); the code is not read.
//   C 1.2.0      the header leaves it to the core's library; ours (sdk/c) reports a
//                {Status, Message} body as GG_REQUEST_HANDLED with the body readable.
// So the only codes all of them understand are 400, 401, 404 and 500, and "not authorized" is 401
// (v1's answer: the Java SDK and the Nike Rust wrapper over the real GGC C library both map 401 to
// "unauthorized"; GGv2's v1-compatibility path answers 403, which the Java SDK rejects).

#include <string>
#include <string_view>

namespace evg::ipc {

enum class SecretError {
  kBadRequest,    // 400: body not JSON, no SecretId, bad VersionStage/VersionId
  kUnauthorized,  // 401: the caller's ResourceAccessPolicies do not reference the secret
  kNotFound,      // 404: no such secret resource / stage / local value
  kInternal,      // 500: the local store cannot be read
};

// 400, 401, 404 or 500.
int secretErrorStatus(SecretError e);

// {"Status":<secretErrorStatus(e)>,"Message":<message>}. The message never contains the substring
// "CreatedDate" (it is rewritten to "Created Date"), so the Node SDK's substring test can never
// mistake an error for a secret whatever SecretId the caller sent.
std::string secretErrorBody(SecretError e, std::string_view message);

}  // namespace evg::ipc
