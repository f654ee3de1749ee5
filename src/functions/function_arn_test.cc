// parseFunctionArn on top of config::splitLambdaArn: the store's own rules and messages.
#include <gtest/gtest.h>

#include "functions/arn.h"

namespace evg::functions {
namespace {

std::string why(std::string_view arn) {
  auto a = parseFunctionArn(arn);
  return a.isOk() ? std::string("<ok>") : a.status().message();
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(FunctionArnDelegationTest, AcceptsWhatTheStoreAcceptsBeyondTheGroupRules) {
  // config::parseLambdaArn refuses these (account not 12 digits, $LATEST, aws-iso partition).
  auto a = parseFunctionArn("arn:aws:lambda:r:a:function:f:$LATEST");
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->qualifier, "$LATEST");
  EXPECT_EQ(a->account, "a");
  auto b = parseFunctionArn("arn:aws-iso:lambda:us-east-1:42:function:f:prod");
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(b->partition, "aws-iso");
  EXPECT_EQ(b->toString(), "arn:aws-iso:lambda:us-east-1:42:function:f:prod");
  auto c = parseFunctionArn("arn:aws:lambda:us-east-1::function:f");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->qualifier, "");
}

TEST(FunctionArnDelegationTest, RefusesWithTheStoresMessages) {
  EXPECT_TRUE(has(why("hello"), "expected arn:aws:lambda:")) << why("hello");
  EXPECT_TRUE(has(why("urn:aws:lambda:r:a:function:f:1"), "must start with \"arn:\""));
  EXPECT_TRUE(has(why("arn:aws:s3:::function:x"), "service must be lambda"));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:layer:x:1"), "resource type must be function"));
  EXPECT_TRUE(has(why("arn:gcp:lambda:r:a:function:f:1"), "partition must be aws"));
  EXPECT_TRUE(has(why("arn:aws:lambda:R!:a:function:f:1"), "bad region \"R!\""));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a-b:function:f:1"), "bad account \"a-b\""));
  EXPECT_TRUE(
      has(why("arn:aws:lambda:r:a:function:" + std::string(65, 'f') + ":1"), "bad function name"));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:function:f:1:2"), "bad qualifier \"1:2\""));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:function:f:"), "bad qualifier \"\""));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:function:f:01"), "bad qualifier \"01\""));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:function:"), "bad function name \"\""));
  EXPECT_TRUE(has(why("arn:aws:lambda:r:a:function:f:1"), "<ok>"));
}

}  // namespace
}  // namespace evg::functions
