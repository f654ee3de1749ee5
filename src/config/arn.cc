#include "config/arn.h"

#include <vector>

namespace evg::config {
namespace {

// Splits "arn:p:s:r:a:rest" into 6 parts (rest may contain ':').
bool splitArn(std::string_view arn, std::vector<std::string_view>* parts) {
  parts->clear();
  size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    size_t c = arn.find(':', start);
    if (c == std::string_view::npos) return false;
    parts->push_back(arn.substr(start, c - start));
    start = c + 1;
  }
  parts->push_back(arn.substr(start));
  return (*parts)[0] == "arn";
}

bool validPartition(std::string_view p) { return p == "aws" || p == "aws-cn" || p == "aws-us-gov"; }

bool validRegion(std::string_view r) {
  if (r.empty() || r.size() > 32) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool validAccount(std::string_view a) {
  if (a.size() != 12) return false;
  for (char c : a) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool nameChars(std::string_view s, size_t max, bool allow_colon) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (allow_colon && c == ':');
    if (!ok) return false;
  }
  return true;
}

std::string quoted(std::string_view s) {
  // Built with reserve/append: `"'" + std::string(s) + "'"` trips GCC 12's -Wrestrict false
  // positive at -O3.
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

}  // namespace

std::string LambdaArn::unqualified() const {
  return "arn:" + partition + ":lambda:" + region + ":" + account + ":function:" + name;
}

ArnService arnService(std::string_view arn) {
  std::vector<std::string_view> p;
  if (!splitArn(arn, &p)) return ArnService::kNone;
  if (p[2] == "iot") return ArnService::kIot;
  if (p[2] == "lambda") return ArnService::kLambda;
  if (p[2] == "greengrass") return ArnService::kGreengrass;
  return ArnService::kOther;
}

Result<ThingArn> parseThingArn(std::string_view arn) {
  std::vector<std::string_view> p;
  const std::string shape = " is not a thing ARN (arn:aws:iot:<region>:<account>:thing/<name>)";
  if (!splitArn(arn, &p) || p[2] != "iot") return Status::invalid(quoted(arn) + shape);
  if (!validPartition(p[1]))
    return Status::invalid(quoted(arn) + ": unknown partition " + quoted(p[1]));
  if (!validRegion(p[3])) return Status::invalid(quoted(arn) + ": invalid region " + quoted(p[3]));
  if (!validAccount(p[4])) {
    return Status::invalid(quoted(arn) + ": account must be 12 digits, got " + quoted(p[4]));
  }
  std::string_view res = p[5];
  if (res.substr(0, 6) != "thing/") return Status::invalid(quoted(arn) + shape);
  std::string_view name = res.substr(6);
  if (!nameChars(name, 128, true)) {
    return Status::invalid(quoted(arn) + ": thing name must be 1-128 characters of [a-zA-Z0-9:_-]");
  }
  return ThingArn{std::string(p[1]), std::string(p[3]), std::string(p[4]), std::string(name)};
}

Result<std::string> thingNameFromArn(std::string_view arn) {
  auto t = parseThingArn(arn);
  if (!t) return t.status();
  return std::move(t->name);
}

namespace {
const char kLambdaShape[] =
    " is not a Lambda function ARN "
    "(arn:aws:lambda:<region>:<account>:function:<name>:<qualifier>)";
}  // namespace

Result<LambdaArnFields> splitLambdaArn(std::string_view arn) {
  std::vector<std::string_view> p;
  if (!splitArn(arn, &p) || p[2] != "lambda") return Status::invalid(quoted(arn) + kLambdaShape);
  std::string_view res = p[5];
  if (res.substr(0, 9) != "function:") return Status::invalid(quoted(arn) + kLambdaShape);
  res = res.substr(9);
  LambdaArnFields f;
  f.partition = p[1];
  f.region = p[3];
  f.account = p[4];
  f.name = res;
  size_t c = res.find(':');
  if (c != std::string_view::npos) {
    f.name = res.substr(0, c);
    f.qualifier = res.substr(c + 1);
    f.has_qualifier = true;
  }
  return f;
}

Result<LambdaArn> parseLambdaArn(std::string_view arn, bool require_qualifier) {
  auto f = splitLambdaArn(arn);
  if (!f) return f.status();
  if (!validPartition(f->partition))
    return Status::invalid(quoted(arn) + ": unknown partition " + quoted(f->partition));
  bool system = f->region.empty() && f->account.empty();
  if (!system) {
    if (!validRegion(f->region))
      return Status::invalid(quoted(arn) + ": invalid region " + quoted(f->region));
    if (!validAccount(f->account) && f->account != "aws") {
      return Status::invalid(quoted(arn) + ": account must be 12 digits, got " +
                             quoted(f->account));
    }
  }
  if (!nameChars(f->name, 140, false)) {
    return Status::invalid(quoted(arn) +
                           ": function name must be 1-140 characters of [a-zA-Z0-9_-]");
  }
  if (f->qualifier == "$LATEST") {
    return Status::invalid("version qualifier required, '$LATEST' is not allowed");
  }
  if (f->has_qualifier && !nameChars(f->qualifier, 128, false)) {
    return Status::invalid(quoted(arn) + ": qualifier must be a version number or alias");
  }
  if (require_qualifier && f->qualifier.empty()) {
    return Status::invalid(quoted(arn) +
                           ": version qualifier required (':<version>' or ':<alias>')");
  }
  return LambdaArn{std::string(f->partition), std::string(f->region), std::string(f->account),
                   std::string(f->name), std::string(f->qualifier)};
}

Result<ConnectorArn> parseConnectorArn(std::string_view arn) {
  std::vector<std::string_view> p;
  const std::string shape =
      " is not a connector ARN (arn:aws:greengrass:<region>::/connectors/<name>/versions/<n>)";
  if (!splitArn(arn, &p) || p[2] != "greengrass" || !p[4].empty()) {
    return Status::invalid(quoted(arn) + shape);
  }
  if (!validPartition(p[1]))
    return Status::invalid(quoted(arn) + ": unknown partition " + quoted(p[1]));
  if (!validRegion(p[3])) return Status::invalid(quoted(arn) + ": invalid region " + quoted(p[3]));
  std::string_view res = p[5];
  if (res.substr(0, 12) != "/connectors/") return Status::invalid(quoted(arn) + shape);
  res = res.substr(12);
  size_t v = res.find("/versions/");
  if (v == std::string_view::npos) return Status::invalid(quoted(arn) + shape);
  std::string_view name = res.substr(0, v), version = res.substr(v + 10);
  if (!nameChars(name, 128, false)) return Status::invalid(quoted(arn) + shape);
  if (version.empty() || version.size() > 10) return Status::invalid(quoted(arn) + shape);
  for (char ch : version) {
    if (ch < '0' || ch > '9') return Status::invalid(quoted(arn) + shape);
  }
  return ConnectorArn{std::string(p[1]), std::string(p[3]), std::string(name),
                      std::string(version)};
}

}  // namespace evg::config
