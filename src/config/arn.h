#pragma once
// Parsers for the ARNs a v1 group and config.json use. Kept beside the config loader (the lowest
// module that needs them); the group module re-exports them as evg::group::*.
//
//   thing:     arn:<partition>:iot:<region>:<account>:thing/<name>
//   lambda:    arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]
//              System functions have empty region and account (arn:aws:lambda:::function:GGRouter)
//              and ML connectors use the account "aws"; all three forms parse.
//   connector: arn:<partition>:greengrass:<region>::/connectors/<name>/versions/<n>
// <partition> is aws, aws-cn or aws-us-gov. Error messages describe the problem only (no JSON
// path); callers prefix the path.

#include <string>
#include <string_view>

#include "base/status.h"

namespace evg::config {

struct ThingArn {
  std::string partition, region, account, name;
};
struct LambdaArn {
  std::string partition, region, account, name;
  std::string qualifier;  // version number or alias; empty when absent
  // The ARN without the qualifier.
  std::string unqualified() const;
};
struct ConnectorArn {
  std::string partition, region, name;
  std::string version;
};

// Thing names: 1-128 characters of [a-zA-Z0-9:_-].
Result<ThingArn> parseThingArn(std::string_view arn);
Result<std::string> thingNameFromArn(std::string_view arn);

// `require_qualifier`: a group needs a version or alias; "$LATEST" is always refused.
Result<LambdaArn> parseLambdaArn(std::string_view arn, bool require_qualifier);

// The fields of arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] as
// written, checked for shape only (prefix "arn", service "lambda", resource type "function").
// parseLambdaArn validates them with the group rules above; functions::parseFunctionArn with the
// function store's rules. The views point into `arn`.
struct LambdaArnFields {
  std::string_view partition, region, account, name;
  std::string_view qualifier;  // everything after the ':' following the name (may hold ':')
  bool has_qualifier = false;  // a ':' follows the name (the qualifier may then be empty)
};
Result<LambdaArnFields> splitLambdaArn(std::string_view arn);

Result<ConnectorArn> parseConnectorArn(std::string_view arn);

// Quick classification by prefix ("arn:<p>:iot:", "arn:<p>:lambda:", "arn:<p>:greengrass:").
enum class ArnService { kNone, kIot, kLambda, kGreengrass, kOther };
ArnService arnService(std::string_view arn);

}  // namespace evg::config
