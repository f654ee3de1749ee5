#pragma once
// FunctionStore: a local stand-in for the cloud Lambda service. Functions live under
// <root>/functions/<name>/:
//   function.json        metadata: $LATEST config, published version configs, aliases
//   code/latest/         unpacked code of $LATEST
//   code/<n>/            immutable copy taken by publishVersion
// Greengrass v1 deploys only versions or aliases (never $LATEST); resolve() enforces that.
//
// Thread-safety: none; one writer at a time (the CLI or the daemon). Writes of function.json are
// atomic (temp file + rename). All calls do blocking file I/O: run them off the event loop.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "functions/code_tree.h"

namespace evg::functions {

struct FunctionConfig {
  std::string name;
  std::string runtime;
  std::string handler;
  std::string description;
  std::map<std::string, std::string> env;
  uint32_t timeout_s = 3;
  uint32_t memory_mb = 16;
};

struct FunctionVersion {
  FunctionConfig config;
  std::string version;  // "$LATEST" or "1", "2", ...
  std::string arn;      // qualified with the version ("...:function:f:$LATEST" / "...:f:3")
  std::string code_dir;
  std::string code_sha256;  // base64(SHA-256 of the code package), as Lambda reports it
  uint64_t code_size = 0;
  std::string last_modified;
};

struct FunctionAlias {
  std::string name;
  std::string function_version;
  std::string description;
  std::string arn;
};

struct ResolvedFunction {
  std::string requested_arn;  // as given
  std::string alias;          // set when requested through an alias
  FunctionVersion version;    // the concrete numbered version
};

struct CreateFunctionRequest {
  FunctionConfig config;
  std::string zip_path;  // a .zip package (preferred) ...
  std::string code_dir;  // ... or a directory to copy (exactly one of the two)
};

// update-function-configuration: only the fields that are set change ($LATEST only).
struct FunctionConfigUpdate {
  std::optional<std::string> runtime;
  std::optional<std::string> handler;
  std::optional<std::string> description;
  std::optional<std::map<std::string, std::string>> env;  // replaces all variables (as Lambda)
  std::optional<uint32_t> timeout_s;
  std::optional<uint32_t> memory_mb;
  bool empty() const {
    return !runtime && !handler && !description && !env && !timeout_s && !memory_mb;
  }
};

struct FunctionStoreOptions {
  std::string root_dir;
  std::string region;  // used for new functions; existing ones keep theirs
  std::string account;
  uint64_t max_zip_bytes = 256ull * 1024 * 1024;  // zip package size (evergreen.functions)
  CodeLimits code_limits;  // unpacked bytes and entry count of a zip or a code directory
};

// Runtimes accepted by create (v1 set).
bool isKnownRuntime(std::string_view runtime);

class FunctionStore {
 public:
  explicit FunctionStore(FunctionStoreOptions opts);

  // Creates $LATEST from a zip or a directory (code_tree.h rules: no link is ever followed).
  Result<FunctionVersion> create(const CreateFunctionRequest& req);
  // Replaces the code of $LATEST (exactly one of zip_path / code_dir). Published versions and
  // aliases are untouched. On any error $LATEST keeps its previous code.
  Result<FunctionVersion> updateFunctionCode(const std::string& name, const std::string& zip_path,
                                             const std::string& code_dir);
  // Changes the configuration of $LATEST (Lambda's update-function-configuration).
  Result<FunctionVersion> updateFunctionConfiguration(const std::string& name,
                                                      const FunctionConfigUpdate& update);
  // Snapshot $LATEST as the next immutable numbered version (code copied). As Lambda does, when
  // $LATEST's code (CodeSha256) and configuration equal the newest published version's, no
  // version is made and that version is returned.
  Result<FunctionVersion> publishVersion(const std::string& name,
                                         const std::string& description = {});
  Result<FunctionAlias> createAlias(const std::string& name, const std::string& alias,
                                    const std::string& version,
                                    const std::string& description = {});
  Result<FunctionAlias> updateAlias(const std::string& name, const std::string& alias,
                                    const std::string& version);
  // $LATEST of every function, sorted by name.
  Result<std::vector<FunctionVersion>> list() const;
  Result<std::vector<FunctionVersion>> listVersions(const std::string& name) const;
  Result<std::vector<FunctionAlias>> listAliases(const std::string& name) const;
  Result<FunctionVersion> get(const std::string& name, const std::string& qualifier) const;
  // No qualifier: the whole function. A version (refused while an alias points at it) or alias.
  Status remove(const std::string& name, const std::string& qualifier = {});
  // Keeps, per function, the `keep` newest numbered versions plus every version in `in_use`
  // ("name:version" strings: the active group's and the deployment history's) and every version
  // an alias points at; removes older ones. keep == 0 keeps everything. Returns "name:version" of
  // each removed version. A function that cannot be read is skipped, not an error.
  Result<std::vector<std::string>> pruneVersions(size_t keep, const std::set<std::string>& in_use);
  // ARN with a version or alias qualifier -> the numbered version. $LATEST, unqualified and
  // unknown ARNs are refused with a message naming them.
  Result<ResolvedFunction> resolve(const std::string& arn) const;

  // Puts `code_dir` into the store as exactly the numbered `version` of function `config.name`
  // under the given region/account (evergreen import-v1: a v1 core's deployed versions keep their
  // numbers). Creates the function when absent ($LATEST = this version). Idempotent: the same
  // version with the same code and configuration is left alone (*changed = false); the same
  // version with other code is a Conflict (published versions are immutable). The code follows the
  // store's rules (code_tree.h: links only inside the tree, never followed; bounded).
  Result<FunctionVersion> importVersion(const FunctionConfig& config, const std::string& region,
                                        const std::string& account, const std::string& version,
                                        const std::string& code_dir, bool* changed);
  // The same from a zip package (fleet deployments, src/daemon/core_jobs.cc): the version's
  // CodeSha256 is the zip's, as for create(). Same version + same zip + same configuration: left
  // alone; other code: Conflict, nothing changed.
  Result<FunctionVersion> importZipVersion(const FunctionConfig& config, const std::string& region,
                                           const std::string& account, const std::string& version,
                                           const std::string& zip_path, bool* changed);

  const FunctionStoreOptions& options() const { return opts_; }

 private:
  std::string functionDir(const std::string& name) const;
  // Directory names under functions/, sorted (each may still fail to load).
  std::vector<std::string> functionNames() const;
  // Unpacks/copies the code into `dest` (must not exist) and hashes it: the zip's bytes, or the
  // stored tree for a directory.
  Status stageCode(const std::string& zip_path, const std::string& code_dir,
                   const std::string& dest, std::string* sha256, uint64_t* size) const;
  Result<FunctionVersion> importImpl(const FunctionConfig& config, const std::string& region,
                                     const std::string& account, const std::string& version,
                                     const std::string& zip_path, const std::string& code_dir,
                                     bool* changed);
  FunctionStoreOptions opts_;
};

}  // namespace evg::functions
