#include "ipc/secret_wire.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace evg::ipc {
namespace {

using nlohmann::json;

// The only Status values every genuine SDK understands (Java 1.5.0 maps exactly these four).
TEST(SecretWireTest, CodesAreTheOnesTheGenuineJavaSdkMaps) {
  EXPECT_EQ(secretErrorStatus(SecretError::kBadRequest), 400);
  EXPECT_EQ(secretErrorStatus(SecretError::kUnauthorized), 401);
  EXPECT_EQ(secretErrorStatus(SecretError::kNotFound), 404);
  EXPECT_EQ(secretErrorStatus(SecretError::kInternal), 500);
}

TEST(SecretWireTest, BodyHasExactlyStatusAndMessage) {
  json j = json::parse(secretErrorBody(SecretError::kUnauthorized, "not yours"));
  EXPECT_EQ(j, (json{{"Status", 401}, {"Message", "not yours"}}));
}

// The Node SDK treats any payload containing ARN, Name, VersionId and CreatedDate as a secret:
// a caller-chosen SecretId echoed in the message must not make an error look like one.
TEST(SecretWireTest, MessageCannotImitateASuccessBodyForNode) {
  std::string body = secretErrorBody(
      SecretError::kNotFound, "Secret not found: ARN Name VersionId CreatedDate CreatedDate");
  EXPECT_EQ(body.find("CreatedDate"), std::string::npos) << body;
  EXPECT_EQ(json::parse(body)["Message"],
            "Secret not found: ARN Name VersionId Created Date Created Date");
}

TEST(SecretWireTest, InvalidUtf8InTheMessageStillGivesJson) {
  std::string body = secretErrorBody(SecretError::kBadRequest, std::string("bad \xff id"));
  EXPECT_EQ(json::parse(body)["Status"], 400);
}

}  // namespace
}  // namespace evg::ipc
