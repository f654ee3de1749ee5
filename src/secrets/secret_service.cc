#include "secrets/secret_service.h"

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "ipc/secret_wire.h"
#include "secrets/secret_crypto.h"

namespace evg::secrets {

using nlohmann::json;

namespace {

bool matchesArn(const std::string& arn, const std::string& id) {
  if (arn == id) return true;
  auto name = secretNameFromArn(arn);
  if (name && *name == id) return true;
  return arn.size() == id.size() + 7 && arn.compare(0, id.size(), id) == 0 && arn[id.size()] == '-';
}

}  // namespace

SecretAccess secretAccessFromGroup(const group::Group& g) {
  SecretAccess a;
  std::map<std::string, std::string> resource_arn;  // resource id -> secret ARN
  for (const auto& r : g.resources) {
    if (r.kind != group::Resource::Kind::kSecret) continue;
    resource_arn[r.id] = r.secret_arn;
    auto& st = a.stages[r.secret_arn];
    st.insert(std::string(kStageCurrent));
    if (r.additional_staging_labels) {
      for (const auto& l : *r.additional_staging_labels) st.insert(l);
    }
  }
  for (const auto& f : g.functions) {
    if (!f.configuration || !f.configuration->environment ||
        !f.configuration->environment->resource_access_policies) {
      continue;
    }
    for (const auto& p : *f.configuration->environment->resource_access_policies) {
      auto it = resource_arn.find(p.resource_id);
      if (it != resource_arn.end()) a.function_secrets[f.arn].insert(it->second);
    }
  }
  return a;
}

SecretService::SecretService(SecretStore& store, Log log) : store_(store), log_(std::move(log)) {}

std::string SecretService::error(ipc::SecretError e, const std::string& message) {
  switch (e) {
    case ipc::SecretError::kUnauthorized:
      ++stats_.refused;
      break;
    case ipc::SecretError::kNotFound:
      ++stats_.not_found;
      break;
    case ipc::SecretError::kBadRequest:
      ++stats_.bad_requests;
      break;
    case ipc::SecretError::kInternal:
      break;
  }
  return ipc::secretErrorBody(e, message);
}

std::string SecretService::handle(const std::string& caller_arn, std::string_view body) {
  json req = parseJsonOrDiscarded(body);
  if (req.is_discarded() || !req.is_object()) {
    return error(ipc::SecretError::kBadRequest, "the request body is not a JSON object");
  }
  auto sid = req.find("SecretId");
  if (sid == req.end() || !sid->is_string() || sid->get_ref<const std::string&>().empty()) {
    return error(ipc::SecretError::kBadRequest, "SecretId is required");
  }
  std::string id = sid->get<std::string>();
  std::string stage(kStageCurrent), version_id;
  bool has_stage = false;
  if (auto s = req.find("VersionStage"); s != req.end() && !s->is_null()) {
    if (!s->is_string() || s->get_ref<const std::string&>().empty()) {
      return error(ipc::SecretError::kBadRequest, "VersionStage must be a non-empty string");
    }
    stage = s->get<std::string>();
    has_stage = true;
  }
  if (auto v = req.find("VersionId"); v != req.end() && !v->is_null()) {
    if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
      return error(ipc::SecretError::kBadRequest, "VersionId must be a non-empty string");
    }
    if (has_stage)
      return error(ipc::SecretError::kBadRequest,
                   "VersionId and VersionStage cannot both be given");
    version_id = v->get<std::string>();
  }
  std::string arn;
  for (const auto& [a, stages] : access_.stages) {
    if (matchesArn(a, id)) {
      arn = a;
      break;
    }
  }
  if (arn.empty()) {
    return error(ipc::SecretError::kNotFound,
                 "Secret not found: " + id + " (no secret resource in the group)");
  }
  auto fit = access_.function_secrets.find(caller_arn);
  if (fit == access_.function_secrets.end() || !fit->second.count(arn)) {
    log_.warn("function " + caller_arn + " asked for secret " + arn +
              " without a ResourceAccessPolicy referencing it: refused");
    return error(ipc::SecretError::kUnauthorized,
                 "Function " + caller_arn + " is not authorized to access secret " + id +
                     ": none of its ResourceAccessPolicies references the secret resource");
  }
  if (version_id.empty() && !access_.stages[arn].count(stage)) {
    return error(ipc::SecretError::kNotFound,
                 "Secret " + id + " has no version with stage " + stage +
                     " on this core (add it to AdditionalStagingLabelsToDownload)");
  }
  Status r = store_.reloadIfChanged();
  if (!r) {
    log_.error("secret store: " + r.message());
    return error(ipc::SecretError::kInternal, "Internal error reading the secret store");
  }
  auto v = store_.get(arn, stage, version_id);
  if (!v) {
    if (v.status().code() == Code::kNotFound) {
      return error(ipc::SecretError::kNotFound,
                   "Secret not found: " + v.status().message() +
                       " (supply it with: evergreen secrets put --arn " + arn + " ...)");
    }
    log_.error("secret " + arn + ": " + v.status().message());
    return error(ipc::SecretError::kInternal, "Internal error reading secret " + id);
  }
  ++stats_.served;
  json out{{"ARN", v->arn},
           {"Name", v->name},
           {"VersionId", v->version_id},
           {"VersionStages", v->stages},
           {"CreatedDate", v->created_ms}};
  if (v->binary) {
    out["SecretBinary"] = base64Encode(v->value);
  } else {
    out["SecretString"] = v->value;
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace evg::secrets
