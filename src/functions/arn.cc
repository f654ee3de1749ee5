#include "functions/arn.h"

#include <vector>

#include "functions/function_spec.h"

namespace evg::functions {

std::string_view encodingName(Encoding e) { return e == Encoding::kBinary ? "binary" : "json"; }

namespace {
bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool allOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool isRegionChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
}  // namespace

std::string FunctionArn::unqualified() const {
  return "arn:" + partition + ":lambda:" + region + ":" + account + ":function:" + name;
}

std::string FunctionArn::toString() const {
  return qualifier.empty() ? unqualified() : unqualified() + ":" + qualifier;
}

bool isValidFunctionName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && allOf(name, isNameChar);
}

bool isVersionNumber(std::string_view q) {
  if (q.empty() || q.size() > 10 || q[0] == '0') return false;
  for (char c : q) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool isValidAliasName(std::string_view alias) {
  if (alias.empty() || alias.size() > 128 || !allOf(alias, isNameChar)) return false;
  for (char c : alias) {
    if (c < '0' || c > '9') return true;
  }
  return false;  // all digits would be ambiguous with a version
}

Result<FunctionArn> parseFunctionArn(std::string_view arn) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t p = arn.find(':', start);
    if (p == std::string_view::npos) {
      parts.push_back(arn.substr(start));
      break;
    }
    parts.push_back(arn.substr(start, p - start));
    start = p + 1;
  }
  auto bad = [&](std::string why) {
    return Status::invalid("invalid function ARN \"" + std::string(arn) + "\": " + why);
  };
  if (parts.size() != 7 && parts.size() != 8) {
    return bad("expected arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]");
  }
  if (parts[0] != "arn") return bad("must start with \"arn:\"");
  if (parts[1].substr(0, 3) != "aws") return bad("partition must be aws or aws-*");
  if (parts[2] != "lambda") return bad("service must be lambda");
  if (!allOf(parts[3], isRegionChar)) return bad("bad region \"" + std::string(parts[3]) + "\"");
  if (!allOf(parts[4], isAlnum)) return bad("bad account \"" + std::string(parts[4]) + "\"");
  if (parts[5] != "function") return bad("resource type must be function");
  if (!isValidFunctionName(parts[6]))
    return bad("bad function name \"" + std::string(parts[6]) + "\"");
  FunctionArn out;
  out.partition = parts[1];
  out.region = parts[3];
  out.account = parts[4];
  out.name = parts[6];
  if (parts.size() == 8) {
    std::string_view q = parts[7];
    if (q != kLatest && !isVersionNumber(q) && !isValidAliasName(q)) {
      return bad("bad qualifier \"" + std::string(q) + "\"");
    }
    out.qualifier = q;
  }
  return out;
}

std::string buildFunctionArn(std::string_view region, std::string_view account,
                             std::string_view name, std::string_view qualifier) {
  FunctionArn a;
  a.region = region;
  a.account = account;
  a.name = name;
  a.qualifier = qualifier;
  return a.toString();
}

}  // namespace evg::functions
