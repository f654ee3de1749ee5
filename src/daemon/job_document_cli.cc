#include "daemon/job_document_cli.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "daemon/cli.h"
#include "functions/function_store.h"
#include "group/group.h"

namespace evg::daemon {
namespace {

constexpr const char* kExecutableRuntime = "arn:aws:greengrass:::runtime/function/executable";
constexpr int64_t kMaxHealthWindowS = 600;
constexpr size_t kMaxDeploymentIdChars = 128;

constexpr const char* kUsage =
    "usage: evergreen job-document --group GROUP.json --s3 s3://BUCKET/PREFIX\n"
    "         [--function NAME:VERSION:RUNTIME:HANDLER:ZIP]... [--region REGION]\n"
    "         [--deployment-id ID] [--failure-policy rollback|leave] [--health-window SECONDS]\n"
    "         [--config KEY=VALUE]... [--group-artifact] [--out FILE]\n"
    "Builds an AWS IoT job document (schema evergreen/job/1, at most 32768 bytes) that deploys\n"
    "GROUP.json and the given function versions to every targeted core, and prints the\n"
    "`aws s3 cp` commands uploading the zips to the S3 keys its presigned-URL placeholders name.\n"
    "See docs/fleet-deployments.md.\n";

bool validName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

Result<int64_t> parseInt(const std::string& s, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end == s.c_str() || *end != '\0' || errno != 0) {
    return Status::invalid(what + ": expected an integer, got \"" + s + "\"");
  }
  return static_cast<int64_t>(v);
}

std::string shellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

std::string joinKey(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

std::string placeholder(const std::string& region, const std::string& bucket,
                        const std::string& key) {
  std::string host = region.empty() ? "s3.amazonaws.com" : "s3." + region + ".amazonaws.com";
  return "${aws:iot:s3-presigned-url:https://" + host + "/" + bucket + "/" + key + "}";
}

}  // namespace

Result<JobFunctionSpec> parseFunctionSpec(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return Status::invalid("--function \"" + spec + "\": " + why +
                           " (expected NAME:VERSION:RUNTIME:HANDLER:ZIP)");
  };
  JobFunctionSpec f;
  size_t c1 = spec.find(':');
  if (c1 == std::string::npos) return bad("missing fields");
  size_t c2 = spec.find(':', c1 + 1);
  if (c2 == std::string::npos) return bad("missing fields");
  f.name = spec.substr(0, c1);
  if (!validName(f.name)) return bad("NAME must be 1-64 of [A-Za-z0-9_-]");
  auto v = parseInt(spec.substr(c1 + 1, c2 - c1 - 1), "VERSION");
  if (!v || *v < 1) return bad("VERSION must be a positive integer (a published version)");
  f.version = *v;
  std::string rest = spec.substr(c2 + 1);
  if (rest.rfind(std::string(kExecutableRuntime) + ":", 0) == 0) {
    f.runtime = kExecutableRuntime;
    rest = rest.substr(f.runtime.size() + 1);
  } else {
    size_t c3 = rest.find(':');
    if (c3 == std::string::npos) return bad("missing fields");
    f.runtime = rest.substr(0, c3);
    rest = rest.substr(c3 + 1);
  }
  if (!functions::isKnownRuntime(f.runtime)) return bad("unknown runtime \"" + f.runtime + "\"");
  size_t last = rest.rfind(':');
  if (last == std::string::npos) return bad("missing fields");
  f.handler = rest.substr(0, last);
  f.zip = rest.substr(last + 1);
  if (f.handler.empty()) return bad("empty HANDLER");
  if (f.zip.empty()) return bad("empty ZIP");
  return f;
}

Result<std::pair<std::string, std::string>> parseS3Uri(const std::string& uri) {
  if (uri.rfind("s3://", 0) != 0) {
    return Status::invalid("--s3 \"" + uri + "\": expected s3://BUCKET[/PREFIX]");
  }
  std::string rest = uri.substr(5);
  size_t slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  // S3 bucket names: 3-63 of lower-case letters, digits, '.', '-'.
  bool ok = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket) {
    ok &= std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  }
  if (!ok) return Status::invalid("--s3 \"" + uri + "\": invalid bucket name \"" + bucket + "\"");
  for (char c : prefix) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '}' || c == '{' || c == '\\' || c == '"') {
      return Status::invalid("--s3 \"" + uri +
                             "\": the prefix holds a character not allowed "
                             "in a presigned-URL placeholder");
    }
  }
  return std::make_pair(bucket, prefix);
}

Result<std::string> fileSha256Hex(const std::string& path, uint64_t* size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::notFound("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Status::internal("SHA-256 init failed");
  }
  std::vector<char> buf(1 << 16);
  uint64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = in.gcount();
    if (n > 0) {
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
      total += static_cast<uint64_t>(n);
    }
  }
  if (in.bad()) return Status::io("read error on " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  if (size) *size = total;
  return out;
}

Result<JobDocumentBuild> buildJobDocument(const JobDocumentOptions& o) {
  JobDocumentBuild b;
  if (o.group_file.empty()) return Status::invalid("--group GROUP.json is required");
  auto s3 = parseS3Uri(o.s3_uri);
  if (!s3) return s3.status();
  const auto& [bucket, prefix] = *s3;
  if (o.failure_policy != "rollback" && o.failure_policy != "leave") {
    return Status::invalid("--failure-policy: expected rollback or leave, got \"" +
                           o.failure_policy + "\"");
  }
  if (o.health_window_s < 0 || o.health_window_s > kMaxHealthWindowS) {
    return Status::invalid("--health-window: expected 0.." + std::to_string(kMaxHealthWindowS) +
                           " seconds, got " + std::to_string(o.health_window_s));
  }
  if (o.deployment_id.size() > kMaxDeploymentIdChars) {
    return Status::invalid("--deployment-id: at most " + std::to_string(kMaxDeploymentIdChars) +
                           " characters");
  }
  auto group = group::loadGroupFile(o.group_file);
  if (!group) {
    return Status::invalid("group " + o.group_file + " rejected: " + group.status().message());
  }
  nlohmann::ordered_json group_json;
  {
    std::ifstream in(o.group_file, std::ios::binary);
    try {
      group_json = nlohmann::ordered_json::parse(in);
    } catch (const std::exception& e) {
      return Status::invalid("group " + o.group_file + ": " + e.what());
    }
  }
  std::string region = o.region;
  if (region.empty()) {
    for (const auto& f : group->functions) {
      if (!f.parsed.region.empty()) {
        region = f.parsed.region;
        break;
      }
    }
  }
  if (region.empty()) {
    for (const char* env : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* v = std::getenv(env); v && *v) {
        region = v;
        break;
      }
    }
  }

  auto& d = b.document;
  d["schema"] = kJobDocumentSchema;
  if (!o.deployment_id.empty()) d["deploymentId"] = o.deployment_id;
  if (o.group_artifact) {
    uint64_t size = 0;
    auto sha = fileSha256Hex(o.group_file, &size);
    if (!sha) return sha.status();
    std::string key = joinKey(prefix, "group-" + sha->substr(0, 16) + ".json");
    d["groupArtifact"] = {
        {"url", placeholder(region, bucket, key)}, {"sha256", *sha}, {"size", size}};
    b.uploads.push_back({o.group_file, "s3://" + bucket + "/" + key});
  } else {
    d["group"] = group_json;
  }

  // Which name:version pairs the group uses, to warn about mismatches with --function.
  std::set<std::string> referenced;
  for (const auto& f : group->functions) {
    referenced.insert(f.parsed.name + ":" + f.parsed.qualifier);
  }
  std::set<std::string> given;
  d["functions"] = nlohmann::ordered_json::array();
  for (const auto& f : o.functions) {
    std::string id = f.name + ":" + std::to_string(f.version);
    if (!given.insert(id).second) return Status::invalid("--function " + id + " given twice");
    uint64_t size = 0;
    auto sha = fileSha256Hex(f.zip, &size);
    if (!sha) return Status::invalid("--function " + id + ": " + sha.status().message());
    if (size == 0) return Status::invalid("--function " + id + ": " + f.zip + " is empty");
    std::string key = joinKey(
        prefix, f.name + "-" + std::to_string(f.version) + "-" + sha->substr(0, 16) + ".zip");
    nlohmann::ordered_json fj;
    fj["name"] = f.name;
    fj["version"] = f.version;
    fj["runtime"] = f.runtime;
    fj["handler"] = f.handler;
    fj["artifact"] = {{"url", placeholder(region, bucket, key)}, {"sha256", *sha}, {"size", size}};
    d["functions"].push_back(std::move(fj));
    b.uploads.push_back({f.zip, "s3://" + bucket + "/" + key});
    if (!referenced.count(id)) {
      b.warnings.push_back("function " + id + " is not referenced by the group (by version)");
    }
  }
  for (const auto& r : referenced) {
    if (!given.count(r)) {
      b.warnings.push_back("the group uses function " + r +
                           " that is not in this document: it must already be on every core");
    }
  }
  if (!o.config.empty()) {
    nlohmann::ordered_json c = nlohmann::ordered_json::object();
    for (const auto& [k, v] : o.config) c[k] = v;
    d["config"] = c;
  }
  d["failurePolicy"] = o.failure_policy;
  d["healthWindowSeconds"] = o.health_window_s;
  b.text = d.dump();
  if (b.text.size() > kMaxJobDocumentBytes) {
    return Status::tooLarge(
        "the job document is " + std::to_string(b.text.size()) + " bytes; AWS IoT allows " +
        std::to_string(kMaxJobDocumentBytes) +
        (o.group_artifact ? "" : " (use --group-artifact to move the group to S3)"));
  }
  return b;
}

int runJobDocumentCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  JobDocumentOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return kExitOk;
    }
    if (a == "--group-artifact") {
      o.group_artifact = true;
      continue;
    }
    std::string value;
    std::string name = a;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) {
        err << "evergreen job-document: " << a << " needs a value\n" << kUsage;
        return kExitInvalid;
      }
      value = argv[++i];
    } else {
      err << "evergreen job-document: unexpected argument '" << a << "'\n" << kUsage;
      return kExitInvalid;
    }
    if (name == "--group") {
      o.group_file = value;
    } else if (name == "--function") {
      auto f = parseFunctionSpec(value);
      if (!f) {
        err << "evergreen job-document: " << f.status().message() << "\n";
        return kExitInvalid;
      }
      o.functions.push_back(*f);
    } else if (name == "--s3") {
      o.s3_uri = value;
    } else if (name == "--region") {
      o.region = value;
    } else if (name == "--deployment-id") {
      o.deployment_id = value;
    } else if (name == "--failure-policy") {
      o.failure_policy = value;
    } else if (name == "--health-window") {
      auto v = parseInt(value, "--health-window");
      if (!v) {
        err << "evergreen job-document: " << v.status().message() << "\n";
        return kExitInvalid;
      }
      o.health_window_s = *v;
    } else if (name == "--config") {
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        err << "evergreen job-document: --config \"" << value << "\": expected KEY=VALUE\n";
        return kExitInvalid;
      }
      o.config.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (name == "--out") {
      o.out = value;
    } else {
      err << "evergreen job-document: unknown option '" << name << "'\n" << kUsage;
      return kExitInvalid;
    }
  }
  if (o.group_file.empty() || o.s3_uri.empty()) {
    err << "evergreen job-document: --group and --s3 are required\n" << kUsage;
    return kExitInvalid;
  }
  auto b = buildJobDocument(o);
  if (!b) {
    err << "evergreen job-document: " << b.status().message() << "\n";
    return kExitInvalid;
  }
  for (const auto& w : b->warnings) err << "warning: " << w << "\n";
  std::ostream* cmds = &err;
  if (!o.out.empty()) {
    std::string tmp = o.out + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << b->text << "\n";
      if (!f.flush()) {
        err << "evergreen job-document: cannot write " << o.out << "\n";
        return kExitFailure;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, o.out, ec);
    if (ec) {
      err << "evergreen job-document: cannot write " << o.out << ": " << ec.message() << "\n";
      return kExitFailure;
    }
    cmds = &out;
  } else {
    out << b->text << "\n";
  }
  *cmds << "# job document: " << b->text.size() << " of " << kMaxJobDocumentBytes
        << " bytes. Upload before creating the job:\n";
  for (const auto& u : b->uploads) {
    *cmds << "aws s3 cp " << shellQuote(u.local_path) << " " << shellQuote(u.s3_uri) << "\n";
  }
  *cmds << "# then: aws iot create-job --document file://"
        << (o.out.empty() ? std::string("DOC.json") : o.out)
        << " --presigned-url-config roleArn=ROLE,expiresInSec=3600 ... "
           "(docs/fleet-deployments.md)\n";
  return kExitOk;
}

}  // namespace evg::daemon
