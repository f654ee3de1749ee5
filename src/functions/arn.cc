#include "functions/arn.h"

#include <algorithm>

#include "config/arn.h"
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
  auto bad = [&](std::string why) {
    return Status::invalid("invalid function ARN \"" + std::string(arn) + "\": " + why);
  };
  // The shape is parsed by config::splitLambdaArn; the checks here are the function store's
  // (any aws* partition, region and account free-form but for their characters, Lambda's name,
  // version and alias rules, $LATEST allowed).
  switch (config::arnService(arn)) {
    case config::ArnService::kLambda:
      break;
    case config::ArnService::kNone:
      // Six colons or more but no "arn:" prefix: the prefix is what is wrong.
      if (arn.substr(0, 4) != "arn:" && std::count(arn.begin(), arn.end(), ':') >= 6) {
        return bad("must start with \"arn:\"");
      }
      return bad("expected arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]");
    default:
      return bad("service must be lambda");
  }
  auto f = config::splitLambdaArn(arn);
  if (!f) return bad("resource type must be function");
  if (f->partition.substr(0, 3) != "aws") return bad("partition must be aws or aws-*");
  if (!allOf(f->region, isRegionChar)) return bad("bad region \"" + std::string(f->region) + "\"");
  if (!allOf(f->account, isAlnum)) return bad("bad account \"" + std::string(f->account) + "\"");
  if (!isValidFunctionName(f->name))
    return bad("bad function name \"" + std::string(f->name) + "\"");
  FunctionArn out;
  out.partition = f->partition;
  out.region = f->region;
  out.account = f->account;
  out.name = f->name;
  if (f->has_qualifier) {
    std::string_view q = f->qualifier;
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
