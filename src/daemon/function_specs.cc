#include "daemon/function_specs.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "base/host_paths.h"
#include "supervisor/dir_access.h"

namespace evg::daemon {

namespace fs = std::filesystem;

constexpr const char* kExecutableRuntime = "arn:aws:greengrass:::runtime/function/executable";

std::string findRuntimeDir() {
  if (const char* env = std::getenv("EVERGREEN_RUNTIME_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "lib" / "evergreen" / "runtime";
    if (fs::exists(installed / "python" / "lambda_runtime.py", ec)) return installed.string();
  }
  return EVG_SOURCE_RUNTIME_DIR;
}

std::optional<RunAsIdentity> lookupGgcIdentity() {
  struct passwd* pw = ::getpwnam("ggc_user");
  if (pw == nullptr) return std::nullopt;
  RunAsIdentity id{pw->pw_uid, pw->pw_gid};
  if (struct group* gr = ::getgrnam("ggc_group"); gr != nullptr) id.gid = gr->gr_gid;
  return id;
}

namespace {

// v1 runs functions as ggc_user/ggc_group by default; use them when the host has them.
void applyDefaultIdentity(functions::FunctionSpec& spec, const SpecOptions& opts) {
  if (spec.run_as_uid || !opts.default_identity) return;
  spec.run_as_uid = opts.default_identity->uid;
  if (!spec.run_as_gid) spec.run_as_gid = opts.default_identity->gid;
}

// The worker's identity must be able to list and search its code directory (the directories
// above it are reached through a descriptor or a bind mount).
void makeWorldReadable(const std::string& dir) {
  std::error_code ec;
  auto add = [](const fs::path& p, bool dir_or_exec) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    mode_t m = st.st_mode & 07777;
    m |= S_IRGRP | S_IROTH;
    if (dir_or_exec || (m & S_IXUSR) != 0) m |= S_IXGRP | S_IXOTH;
    ::chmod(p.c_str(), m);
  };
  add(dir, true);
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    add(it->path(), it->is_directory(ec));
  }
}

Status checkCodeAccess(const functions::FunctionSpec& s, const SpecOptions& opts,
                       const std::string& root_dir, const std::string& where) {
  if (opts.core_uid != 0 || !s.run_as_uid || *s.run_as_uid == 0 || s.code_dir.empty()) {
    return Status::ok();
  }
  uint32_t gid = s.run_as_gid.value_or(opts.core_gid);
  if (supervisor::canReadDir(s.code_dir, *s.run_as_uid, gid)) return Status::ok();
  // The function store's own copy (a zip unpacked in a 0700 temp dir, a --code-dir copied with
  // its modes): made readable (o+rX) as v1 made the code it unpacked readable by ggc_user.
  // Nothing outside the root's store is changed.
  std::string store = fs::path(root_dir + "/functions").lexically_normal().string() + "/";
  if (!root_dir.empty() && fs::path(s.code_dir).lexically_normal().string().rfind(store, 0) == 0) {
    makeWorldReadable(s.code_dir);
    if (supervisor::canReadDir(s.code_dir, *s.run_as_uid, gid)) return Status::ok();
  }
  struct stat st {};
  ::stat(s.code_dir.c_str(), &st);
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return Status::forbidden(where + ": function " + s.arn + " runs as uid " +
                           std::to_string(*s.run_as_uid) + " gid " + std::to_string(gid) +
                           ", which cannot read its code directory " + s.code_dir + " (mode " +
                           mode + ", owner uid " + std::to_string(st.st_uid) +
                           "): make it readable (o+rx) or set RunAs");
}

// ResourceAccessPolicies -> ResourceMount values (GreengrassContainer functions only).
Status attachResources(const group::Group& g, const group::FunctionEnvironment& env,
                       const config::CoreConfig& cfg, const std::string& where,
                       functions::FunctionSpec* s) {
  if (env.access_sysfs) s->access_sysfs = *env.access_sysfs;
  if (!env.resource_access_policies) return Status::ok();
  for (size_t i = 0; i < env.resource_access_policies->size(); ++i) {
    const auto& pol = (*env.resource_access_policies)[i];
    std::string at = where + ".FunctionConfiguration.Environment.ResourceAccessPolicies[" +
                     std::to_string(i) + "]";
    const group::Resource* r = g.findResource(pol.resource_id);
    if (r == nullptr) return Status::invalid(at + ": unknown ResourceId " + pol.resource_id);
    functions::ResourceMount m;
    m.id = r->id;
    m.read_only = pol.permission.value_or("ro") != "rw";
    using K = group::Resource::Kind;
    switch (r->kind) {
      case K::kSecret:
        continue;  // served by the secrets service, nothing to mount
      case K::kLocalDevice:
        m.kind = functions::ResourceMount::Kind::kDevice;
        m.source = m.destination = r->source_path;
        break;
      case K::kLocalVolume:
        m.kind = functions::ResourceMount::Kind::kVolume;
        m.source = r->source_path;
        m.destination = r->destination_path;
        break;
      case K::kS3Model:
      case K::kSageMakerModel: {
        // No download: the model is a local directory given at deploy, either S3Uri
        // file:///dir or <root>/resources/<ResourceId>/ (see src/container/README.md).
        m.kind = functions::ResourceMount::Kind::kModel;
        m.read_only = true;
        m.source = r->s3_uri.rfind("file://", 0) == 0 ? r->s3_uri.substr(7)
                                                      : cfg.root_dir + "/resources/" + r->id;
        m.destination = r->destination_path;
        struct stat st;
        if (::stat(m.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
          return Status::invalid(at + ": machine learning resource " + r->id +
                                 " needs its model as a local directory at " + m.source);
        }
        break;
      }
    }
    if (m.kind != functions::ResourceMount::Kind::kModel) {
      // The group's paths are checked lexically at parse; a symlink may still lead elsewhere
      // (/srv/all -> /): the resolved path must obey the same rule.
      if (auto real = resolvedPath(m.source)) {
        auto why = m.kind == functions::ResourceMount::Kind::kDevice ? deviceSourceProblem(*real)
                                                                     : volumeSourceProblem(*real);
        if (why) {
          return Status::invalid(at + ": resource " + r->id + " (" + m.source + ") resolves to " +
                                 *real + ", which is not allowed: " + *why);
        }
      }
    }
    if (r->group_owner_setting && r->group_owner_setting->auto_add_group_owner.value_or(false)) {
      const auto& name = r->group_owner_setting->group_owner;
      if (name && !name->empty()) {
        struct group* gr = ::getgrnam(name->c_str());
        if (gr == nullptr) {
          return Status::invalid(at + ": GroupOwner " + *name + " of resource " + r->id +
                                 " is not a group on this host");
        }
        m.group_owner_gid = gr->gr_gid;
      } else {
        struct stat st;
        if (::stat(m.source.c_str(), &st) == 0) m.group_owner_gid = st.st_gid;
      }
    }
    s->resources.push_back(std::move(m));
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<functions::FunctionSpec>> functionSpecsForGroup(
    const group::Group& g, const functions::FunctionStore& store, const config::CoreConfig& cfg,
    std::vector<std::string>* warnings, const SpecOptions& opts) {
  std::vector<functions::FunctionSpec> specs;
  for (const auto& f : g.functions) {
    std::string where = "Functions[Id=" + f.id + "]";
    // System functions configured in the group (e.g. GGCloudSpooler's env vars) are not user code.
    if (f.parsed.region.empty() && f.parsed.account.empty()) continue;
    auto r = store.resolve(f.arn);
    if (!r) return r.status().withContext(where + ".FunctionArn: ");
    const auto& v = r->version;
    functions::FunctionSpec s;
    s.arn = f.arn;
    s.runtime = v.config.runtime;
    s.handler = v.config.handler;
    s.code_dir = v.code_dir;
    s.env = v.config.env;
    s.timeout_ms = v.config.timeout_s * 1000;
    s.memory_kb = v.config.memory_mb * 1024;
    // v1's default isolation is GreengrassContainer (src/container).
    s.isolation = functions::Isolation::kGreengrassContainer;
    std::optional<group::Execution> exec = g.function_default_execution;
    if (f.configuration) {
      const auto& c = *f.configuration;
      if (c.function_runtime_override && !c.function_runtime_override->empty()) {
        s.runtime = *c.function_runtime_override;
      }
      if (c.executable && !c.executable->empty() && s.runtime == kExecutableRuntime) {
        s.handler = *c.executable;
      }
      if (c.encoding_type)
        s.encoding = *c.encoding_type == "binary" ? functions::Encoding::kBinary
                                                  : functions::Encoding::kJson;

      if (c.pinned) s.pinned = *c.pinned;
      if (c.timeout_s) s.timeout_ms = static_cast<uint32_t>(*c.timeout_s) * 1000;
      if (c.memory_size_kb) s.memory_kb = static_cast<uint32_t>(*c.memory_size_kb);
      if (c.environment) {
        if (c.environment->variables) {
          for (const auto& [k, val] : *c.environment->variables) s.env[k] = val;
        }
        if (c.environment->execution) {
          // Function-level settings win over the definition's DefaultConfig, field by field.
          group::Execution merged = exec.value_or(group::Execution{});
          if (c.environment->execution->isolation_mode) {
            merged.isolation_mode = c.environment->execution->isolation_mode;
          }
          if (c.environment->execution->run_as) merged.run_as = c.environment->execution->run_as;
          exec = merged;
        }
      }
    }
    // The seed: "Lambda executables support only the binary encoding type (not JSON)". v1's
    // default EncodingType is json, so an executable without one is taken as binary; an explicit
    // json is refused.
    if (s.runtime == kExecutableRuntime) {
      if (f.configuration && f.configuration->encoding_type &&
          *f.configuration->encoding_type != "binary") {
        return Status::invalid(where + ".FunctionConfiguration.EncodingType: function " + f.arn +
                               " is a Lambda executable, which supports only EncodingType binary "
                               "(got \"" +
                               *f.configuration->encoding_type + "\")");
      }
      s.encoding = functions::Encoding::kBinary;
    }
    if (exec) {
      if (exec->isolation_mode && *exec->isolation_mode == "NoContainer") {
        s.isolation = functions::Isolation::kNoContainer;
      }
      if (exec->run_as) {
        if (exec->run_as->uid) s.run_as_uid = static_cast<uint32_t>(*exec->run_as->uid);
        if (exec->run_as->gid) s.run_as_gid = static_cast<uint32_t>(*exec->run_as->gid);
      }
    }
    if (f.configuration && f.configuration->environment) {
      const auto& env = *f.configuration->environment;
      bool has = (env.resource_access_policies && !env.resource_access_policies->empty()) ||
                 env.access_sysfs.value_or(false);
      if (s.isolation == functions::Isolation::kGreengrassContainer) {
        EVG_RETURN_IF_ERROR(attachResources(g, env, cfg, where, &s));
      } else if (has && warnings != nullptr) {
        warnings->push_back(where +
                            ": runs with IsolationMode NoContainer; its resource access "
                            "policies and AccessSysfs are not attached (as in v1)");
      }
    }
    applyDefaultIdentity(s, opts);
    if (s.run_as_uid && *s.run_as_uid == 0 && !cfg.runtime.allow_functions_to_run_as_root) {
      return Status::forbidden(where +
                               ".FunctionConfiguration.Environment.Execution.RunAs: uid 0 "
                               "needs runtime.allowFunctionsToRunAsRoot \"yes\" in config.json");
    }
    if (s.run_as_gid && *s.run_as_gid == 0 && !cfg.runtime.allow_functions_to_run_as_root) {
      return Status::forbidden(where +
                               ".FunctionConfiguration.Environment.Execution.RunAs: gid 0 "
                               "needs runtime.allowFunctionsToRunAsRoot \"yes\" in config.json");
    }
    EVG_RETURN_IF_ERROR(checkCodeAccess(s, opts, cfg.root_dir, where));
    specs.push_back(std::move(s));
  }
  return specs;
}

}  // namespace evg::daemon
