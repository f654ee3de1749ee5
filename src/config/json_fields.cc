#include "config/json_fields.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/json.h"

namespace evg::config {

using nlohmann::json;

std::string describeJson(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 64) {
    s.resize(61);
    s += "...";
  }
  return s;
}

std::string joinPath(std::string_view parent, std::string_view key) {
  std::string p(parent);
  if (!p.empty()) p += '.';
  p += key;
  return p;
}

Status fieldError(std::string_view path, std::string_view problem) {
  std::string m(path);
  m += ": ";
  m += problem;
  return Status::invalid(std::move(m));
}

Status requireObject(const json& v, std::string_view path) {
  if (v.is_object()) return Status::ok();
  return fieldError(path.empty() ? std::string_view("(root)") : path,
                    "expected object, got " + describeJson(v));
}

FieldReader::FieldReader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

const json* FieldReader::find(std::string_view key) {
  if (std::find(seen_.begin(), seen_.end(), key) == seen_.end()) seen_.emplace_back(key);
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(std::string(key));
  if (it == obj_.end()) return nullptr;
  return &*it;
}

bool FieldReader::has(std::string_view key) const {
  return obj_.is_object() && obj_.contains(std::string(key));
}

Status FieldReader::missing(std::string_view key) const {
  return fieldError(path(key), "required field missing");
}

Status FieldReader::integer(std::string_view key, int64_t lo, int64_t hi, int64_t* out,
                            bool required) {
  const json* v = find(key);
  if (v == nullptr) return required ? missing(key) : Status::ok();
  bool ok = v->is_number_integer();
  int64_t n = 0;
  if (ok) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      ok = false;
    } else {
      n = v->get<int64_t>();
      ok = n >= lo && n <= hi;
    }
  }
  if (!ok) {
    std::string expect;
    if (hi == INT64_MAX || hi == INT32_MAX) {
      expect = "expected integer >= " + std::to_string(lo);
    } else {
      expect = "expected integer " + std::to_string(lo) + "-" + std::to_string(hi);
    }
    return fieldError(path(key), expect + ", got " + describeJson(*v));
  }
  *out = n;
  return Status::ok();
}

Status FieldReader::integer(std::string_view key, int64_t lo, int64_t hi, int* out, bool required) {
  int64_t n = *out;
  EVG_RETURN_IF_ERROR(integer(key, lo, hi, &n, required));
  *out = static_cast<int>(n);
  return Status::ok();
}

Status FieldReader::integer(std::string_view key, int64_t lo, int64_t hi,
                            std::optional<int64_t>* out) {
  if (!has(key)) {
    find(key);
    return Status::ok();
  }
  int64_t n = 0;
  EVG_RETURN_IF_ERROR(integer(key, lo, hi, &n, true));
  *out = n;
  return Status::ok();
}

Status FieldReader::integerOneOf(std::string_view key, std::initializer_list<int64_t> allowed,
                                 int* out) {
  const json* v = find(key);
  if (v == nullptr) return Status::ok();
  if (v->is_number_integer() && !(v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)) {
    int64_t n = v->get<int64_t>();
    if (std::find(allowed.begin(), allowed.end(), n) != allowed.end()) {
      *out = static_cast<int>(n);
      return Status::ok();
    }
  }
  std::string expect = "expected ";
  size_t i = 0;
  for (int64_t a : allowed) {
    if (i > 0) expect += (i + 1 == allowed.size()) ? " or " : ", ";
    expect += std::to_string(a);
    ++i;
  }
  return fieldError(path(key), expect + ", got " + describeJson(*v));
}

Status FieldReader::boolean(std::string_view key, bool* out) {
  const json* v = find(key);
  if (v == nullptr) return Status::ok();
  if (!v->is_boolean()) {
    return fieldError(path(key), "expected true or false, got " + describeJson(*v));
  }
  *out = v->get<bool>();
  return Status::ok();
}

Status FieldReader::boolean(std::string_view key, std::optional<bool>* out) {
  if (!has(key)) {
    find(key);
    return Status::ok();
  }
  bool b = false;
  EVG_RETURN_IF_ERROR(boolean(key, &b));
  *out = b;
  return Status::ok();
}

Status FieldReader::yesNo(std::string_view key, bool* out) {
  const json* v = find(key);
  if (v == nullptr) return Status::ok();
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "yes" || s == "no") {
      *out = s == "yes";
      return Status::ok();
    }
  }
  return fieldError(path(key), "expected \"yes\" or \"no\", got " + describeJson(*v));
}

Status FieldReader::string(std::string_view key, std::string* out, bool required) {
  const json* v = find(key);
  if (v == nullptr) return required ? missing(key) : Status::ok();
  if (!v->is_string()) return fieldError(path(key), "expected string, got " + describeJson(*v));
  *out = v->get<std::string>();
  return Status::ok();
}

Status FieldReader::string(std::string_view key, std::optional<std::string>* out) {
  if (!has(key)) {
    find(key);
    return Status::ok();
  }
  std::string s;
  EVG_RETURN_IF_ERROR(string(key, &s, true));
  *out = std::move(s);
  return Status::ok();
}

Status FieldReader::nonEmptyString(std::string_view key, std::string* out, bool required) {
  const json* v = find(key);
  if (v == nullptr) return required ? missing(key) : Status::ok();
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    return fieldError(path(key), "expected non-empty string, got " + describeJson(*v));
  }
  *out = v->get<std::string>();
  return Status::ok();
}

Status FieldReader::enumString(std::string_view key,
                               std::initializer_list<std::string_view> allowed, std::string* out,
                               bool required) {
  const json* v = find(key);
  if (v == nullptr) return required ? missing(key) : Status::ok();
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) {
      *out = s;
      return Status::ok();
    }
  }
  std::string expect = allowed.size() > 2 ? "expected one of " : "expected ";
  size_t i = 0;
  for (std::string_view a : allowed) {
    if (i > 0) expect += (allowed.size() == 2) ? " or " : ", ";
    expect += '"';
    expect += a;
    expect += '"';
    ++i;
  }
  return fieldError(path(key), expect + ", got " + describeJson(*v));
}

Status FieldReader::object(std::string_view key, const json** out, bool required) {
  const json* v = find(key);
  *out = nullptr;
  if (v == nullptr) return required ? missing(key) : Status::ok();
  if (!v->is_object()) return fieldError(path(key), "expected object, got " + describeJson(*v));
  *out = v;
  return Status::ok();
}

Status FieldReader::array(std::string_view key, const json** out, bool required) {
  const json* v = find(key);
  *out = nullptr;
  if (v == nullptr) return required ? missing(key) : Status::ok();
  if (!v->is_array()) return fieldError(path(key), "expected array, got " + describeJson(*v));
  *out = v;
  return Status::ok();
}

Status FieldReader::stringMap(std::string_view key,
                              std::vector<std::pair<std::string, std::string>>* out) {
  const json* obj = nullptr;
  EVG_RETURN_IF_ERROR(object(key, &obj));
  if (obj == nullptr) return Status::ok();
  out->clear();
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (!it.value().is_string()) {
      return fieldError(path(key) + "." + it.key(),
                        "expected string, got " + describeJson(it.value()));
    }
    out->emplace_back(it.key(), it.value().get<std::string>());
  }
  return Status::ok();
}

Status FieldReader::stringArray(std::string_view key, std::vector<std::string>* out) {
  const json* arr = nullptr;
  EVG_RETURN_IF_ERROR(array(key, &arr));
  if (arr == nullptr) return Status::ok();
  out->clear();
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& e = (*arr)[i];
    if (!e.is_string()) {
      return fieldError(path(key) + "[" + std::to_string(i) + "]",
                        "expected string, got " + describeJson(e));
    }
    out->push_back(e.get<std::string>());
  }
  return Status::ok();
}

std::vector<std::string> FieldReader::unknownKeys() const {
  std::vector<std::string> out;
  if (!obj_.is_object()) return out;
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end()) {
      out.push_back(joinPath(path_, it.key()));
    }
  }
  return out;
}

Status FieldReader::rejectUnknown() const {
  auto unknown = unknownKeys();
  if (unknown.empty()) return Status::ok();
  return fieldError(unknown.front(), "unknown field");
}

Result<json> readJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io(path + ": read error");
  auto j = parseJson(ss.str());
  if (!j) return Status::invalid(path + ": " + j.status().message());
  return j;
}

}  // namespace evg::config
