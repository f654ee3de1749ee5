// config::splitLambdaArn: the shared shape parser under parseLambdaArn and
// functions::parseFunctionArn.
#include <gtest/gtest.h>

#include "config/arn.h"

namespace evg::config {
namespace {

TEST(SplitLambdaArnTest, SplitsFieldsWithoutJudgingThem) {
  auto f = splitLambdaArn("arn:aws:lambda:r:a:function:f:1:2");
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  EXPECT_EQ(f->partition, "aws");
  EXPECT_EQ(f->region, "r");
  EXPECT_EQ(f->account, "a");
  EXPECT_EQ(f->name, "f");
  EXPECT_EQ(f->qualifier, "1:2");
  EXPECT_TRUE(f->has_qualifier);
  auto g = splitLambdaArn("arn:aws:lambda:::function:GGRouter");
  ASSERT_TRUE(g.isOk());
  EXPECT_EQ(g->name, "GGRouter");
  EXPECT_FALSE(g->has_qualifier);
  auto t = splitLambdaArn("arn:aws:lambda:::function:f:");
  ASSERT_TRUE(t.isOk());
  EXPECT_TRUE(t->has_qualifier);
  EXPECT_EQ(t->qualifier, "");
}

TEST(SplitLambdaArnTest, RefusesOtherShapesNamingTheExpectedForm) {
  for (const char* bad : {"hello", "arn:aws:s3:::function:x", "arn:aws:lambda:r:a:layer:x",
                          "urn:aws:lambda:r:a:function:f", "arn:aws:lambda:r:a:function"}) {
    auto f = splitLambdaArn(bad);
    ASSERT_FALSE(f.isOk()) << bad;
    EXPECT_NE(f.status().message().find("is not a Lambda function ARN"), std::string::npos)
        << f.status().message();
  }
}

TEST(SplitLambdaArnTest, ParseLambdaArnKeepsTheGroupRulesOnTop) {
  EXPECT_FALSE(parseLambdaArn("arn:aws:lambda:r:a:function:f:1", false).isOk());  // account
  EXPECT_FALSE(parseLambdaArn("arn:aws:lambda:::function:f:", false).isOk());     // empty q
  EXPECT_FALSE(parseLambdaArn("arn:aws:lambda:::function:f:1:2", false).isOk());  // ':' in q
  auto l = parseLambdaArn("arn:aws:lambda:::function:f:$LATEST", false);
  ASSERT_FALSE(l.isOk());
  EXPECT_NE(l.status().message().find("'$LATEST' is not allowed"), std::string::npos);
  EXPECT_TRUE(parseLambdaArn("arn:aws:lambda:us-east-1:123456789012:function:f:7", true).isOk());
}

}  // namespace
}  // namespace evg::config
