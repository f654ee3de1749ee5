#pragma once
// MQTT 3.1.1 topic names and filters (spec §4.7): validation and matching.
// Pure functions, no allocation on the match path.

#include <string_view>
#include <vector>

#include "base/status.h"

namespace evg::mqtt {

// Well-formed UTF-8 without U+0000 and without surrogates (spec §1.5.3). Control characters
// U+0001..U+001F / U+007F..U+009F are allowed by the spec and accepted here.
bool isValidMqttUtf8(std::string_view s);

// A PUBLISH topic name: 1..65535 bytes, valid UTF-8, no '+' or '#'.
Status validateTopicName(std::string_view topic);
// A SUBSCRIBE filter: 1..65535 bytes, valid UTF-8, '#' only as the whole last level, '+' only as a
// whole level.
Status validateTopicFilter(std::string_view filter);

// True when topic (a valid name) matches filter (a valid filter). Topics starting with '$' are not
// matched by filters whose first level is a wildcard (spec §4.7.2).
bool topicMatches(std::string_view filter, std::string_view topic);

// The '/'-separated levels of a topic name or filter ("a//b" -> "a", "", "b"); views into `s`.
std::vector<std::string_view> splitTopicLevels(std::string_view s);

// Number of '/' separators.
int countLevels(std::string_view s);

}  // namespace evg::mqtt
