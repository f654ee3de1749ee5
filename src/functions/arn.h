#pragma once
// Lambda function ARNs: arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>].
// System ARNs (GGRouter, ...) have an empty region and account; ML connectors use account "aws".

#include <string>
#include <string_view>

#include "base/status.h"

namespace evg::functions {

inline constexpr std::string_view kLatest = "$LATEST";

struct FunctionArn {
  std::string partition = "aws";
  std::string region;
  std::string account;
  std::string name;
  std::string qualifier;  // empty when unqualified; "$LATEST", "7" or an alias name

  std::string unqualified() const;
  std::string toString() const;  // with ":qualifier" when set
};

// Parses and validates an ARN. Errors name the offending part.
Result<FunctionArn> parseFunctionArn(std::string_view arn);
std::string buildFunctionArn(std::string_view region, std::string_view account,
                             std::string_view name, std::string_view qualifier = {});

// Lambda naming rules: names [A-Za-z0-9_-]{1,64}; aliases [A-Za-z0-9_-]{1,128}, not all digits.
bool isValidFunctionName(std::string_view name);
bool isValidAliasName(std::string_view alias);
bool isVersionNumber(std::string_view q);  // 1..n, no leading zero

}  // namespace evg::functions
