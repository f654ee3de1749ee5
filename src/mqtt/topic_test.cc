#include "mqtt/topic.h"

#include <gtest/gtest.h>

namespace evg::mqtt {
namespace {

TEST(TopicTest, Validation) {
  EXPECT_TRUE(validateTopicName("a/b/c").isOk());
  EXPECT_TRUE(validateTopicName("/").isOk());
  EXPECT_FALSE(validateTopicName("").isOk());
  EXPECT_FALSE(validateTopicName("a/+").isOk());
  EXPECT_FALSE(validateTopicName("a/#").isOk());
  EXPECT_FALSE(validateTopicName(std::string_view("a\0b", 3)).isOk());
  EXPECT_TRUE(validateTopicFilter("#").isOk());
  EXPECT_TRUE(validateTopicFilter("+/a/+").isOk());
  EXPECT_TRUE(validateTopicFilter("a/#").isOk());
  EXPECT_FALSE(validateTopicFilter("#/a").isOk());
  EXPECT_FALSE(validateTopicFilter("a#").isOk());
  EXPECT_FALSE(validateTopicFilter("a/b+").isOk());
  EXPECT_FALSE(validateTopicFilter("\xC0\xAF").isOk());         // overlong
  EXPECT_FALSE(validateTopicFilter("\xED\xA0\x80").isOk());     // surrogate
  EXPECT_TRUE(validateTopicFilter("caf\xC3\xA9").isOk());
}

TEST(TopicTest, Matching) {
  EXPECT_TRUE(topicMatches("a/b", "a/b"));
  EXPECT_FALSE(topicMatches("a/b", "a/bc"));
  EXPECT_TRUE(topicMatches("a/+", "a/b"));
  EXPECT_FALSE(topicMatches("a/+", "a/b/c"));
  EXPECT_TRUE(topicMatches("a/+", "a/"));
  EXPECT_TRUE(topicMatches("a/#", "a"));
  EXPECT_TRUE(topicMatches("a/#", "a/b/c"));
  EXPECT_TRUE(topicMatches("#", "a/b"));
  EXPECT_TRUE(topicMatches("+/+", "/a"));
  EXPECT_FALSE(topicMatches("+", "/a"));
  EXPECT_FALSE(topicMatches("#", "$SYS/x"));
  EXPECT_FALSE(topicMatches("+/x", "$aws/x"));
  EXPECT_TRUE(topicMatches("$aws/things/+/shadow/#", "$aws/things/t1/shadow/update"));
  EXPECT_TRUE(topicMatches("test/input_message", "test/input_message"));
  EXPECT_EQ(countLevels("a/b/c"), 2);
}

}  // namespace
TEST(TopicTest, SplitTopicLevels) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(splitTopicLevels("a/+/#"), (V{"a", "+", "#"}));
  EXPECT_EQ(splitTopicLevels("a//b/"), (V{"a", "", "b", ""}));
  EXPECT_EQ(splitTopicLevels(""), (V{""}));
}

}  // namespace evg::mqtt
