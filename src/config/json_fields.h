#pragma once
// FieldReader: typed, path-aware access to the members of one JSON object, shared by the
// config.json loader and the group-file parser. Every accessor returns a Status whose message names
// the full JSON path and the problem, in the one style used for all configuration errors:
//   coreThing.ggMqttPort: expected integer 1024-65535, got "abc"
// Absent keys leave the output untouched (callers pre-fill defaults) unless marked required.
// The reader remembers which keys were looked up, so callers can list the unknown ones.
// Not thread-safe; cheap; holds a reference to the JSON object (which must outlive it).

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace evg::config {

// A JSON value for error messages: strings quoted ("abc"), others serialised; long values are
// truncated to about 64 characters.
std::string describeJson(const nlohmann::json& v);

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string joinPath(std::string_view parent, std::string_view key);

// "<path>: <problem>" as an Invalid status.
Status fieldError(std::string_view path, std::string_view problem);

class FieldReader {
 public:
  // `obj` must be a JSON object (use requireObject first); `path` is its JSON path ("" for the
  // root).
  FieldReader(const nlohmann::json& obj, std::string path);

  // Returns the member or nullptr when absent; marks the key as known.
  const nlohmann::json* find(std::string_view key);
  bool has(std::string_view key) const;
  std::string path(std::string_view key) const { return joinPath(path_, key); }
  const std::string& path() const { return path_; }

  // Integer in [lo, hi] (hi == INT32_MAX or INT64_MAX reads "expected integer >= lo"). JSON numbers
  // with a fraction, strings and booleans are refused.
  Status integer(std::string_view key, int64_t lo, int64_t hi, int64_t* out, bool required = false);
  Status integer(std::string_view key, int64_t lo, int64_t hi, int* out, bool required = false);
  Status integer(std::string_view key, int64_t lo, int64_t hi, std::optional<int64_t>* out);
  // Integer that must be one of `allowed` ("expected 8883 or 443, got 1234").
  Status integerOneOf(std::string_view key, std::initializer_list<int64_t> allowed, int* out);
  Status boolean(std::string_view key, bool* out);
  Status boolean(std::string_view key, std::optional<bool>* out);
  // v1 "yes"/"no" strings.
  Status yesNo(std::string_view key, bool* out);
  Status string(std::string_view key, std::string* out, bool required = false);
  Status string(std::string_view key, std::optional<std::string>* out);
  // Non-empty string.
  Status nonEmptyString(std::string_view key, std::string* out, bool required = false);
  // String that must be one of `allowed` (case-sensitive).
  Status enumString(std::string_view key, std::initializer_list<std::string_view> allowed,
                    std::string* out, bool required = false);
  // Object member: *out = nullptr when absent.
  Status object(std::string_view key, const nlohmann::json** out, bool required = false);
  // Array member: *out = nullptr when absent.
  Status array(std::string_view key, const nlohmann::json** out, bool required = false);
  // Object whose values are all strings (Variables, Parameters).
  Status stringMap(std::string_view key, std::vector<std::pair<std::string, std::string>>* out);
  // Array of strings.
  Status stringArray(std::string_view key, std::vector<std::string>* out);

  // Keys present in the object that were never looked up, as full JSON paths, sorted.
  std::vector<std::string> unknownKeys() const;
  // Invalid status "<path>.<key>: unknown field" for the first unknown key, or OK.
  Status rejectUnknown() const;

 private:
  Status missing(std::string_view key) const;
  const nlohmann::json& obj_;
  std::string path_;
  std::vector<std::string> seen_;
};

// Invalid "<path>: expected object, got ..." unless v is an object.
Status requireObject(const nlohmann::json& v, std::string_view path);

// Reads and parses a JSON file. Errors: Io (cannot read, naming the path), Invalid (syntax error,
// naming the path, line and column).
Result<nlohmann::json> readJsonFile(const std::string& path);

}  // namespace evg::config
