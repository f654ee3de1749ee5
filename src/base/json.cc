#include "base/json.h"

#include <string>
#include <unordered_set>
#include <vector>

namespace evg {

namespace {

using json = nlohmann::json;

// Wraps nlohmann's own DOM builder; adds the depth bound, duplicate-key detection and a JSON path
// for error messages.
class BoundedSax {
 public:
  BoundedSax(json& out, const JsonLimits& limits) : dom_(out, false), limits_(limits) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }

  bool start_object(std::size_t n) { return open(true) && dom_.start_object(n); }
  bool end_object() { return close() && dom_.end_object(); }
  bool start_array(std::size_t n) { return open(false) && dom_.start_array(n); }
  bool end_array() { return close() && dom_.end_array(); }

  bool key(json::string_t& k) {
    Frame& f = frames_.back();
    if (!limits_.allow_duplicate_keys && !f.keys.insert(k).second) {
      error_ = "duplicate key \"" + k + "\" in object at " + pathString(frames_.size() - 1);
      return false;
    }
    f.key = k;
    f.has_key = true;
    return dom_.key(k);
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 3, ..." -> drop the tag.
    std::string what = e.what();
    auto pos = what.find("] ");
    error_ = pos == std::string::npos ? what : what.substr(pos + 2);
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool object = false;
    size_t index = 0;  // arrays: index of the next element
    std::string key;   // objects: current key
    bool has_key = false;
    std::unordered_set<std::string> keys;
  };

  // A value (scalar or container) starts inside the current frame.
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }

  bool open(bool object) {
    value();
    if (frames_.size() >= limits_.max_depth) {
      error_ = "nesting deeper than " + std::to_string(limits_.max_depth) + " levels at " +
               pathString(frames_.size());
      return false;
    }
    frames_.push_back(Frame{object, 0, {}, false, {}});
    return true;
  }

  bool close() {
    frames_.pop_back();
    return true;
  }

  // JSON path of the value being read in frames_[0..n): "a.b[3]"; "(top level)" when empty.
  std::string pathString(size_t n) const {
    std::string p;
    for (size_t i = 0; i < n && i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.object) {
        if (!f.has_key) continue;
        if (!p.empty()) p += '.';
        p += f.key;
      } else {
        p += "[" + std::to_string(f.index == 0 ? 0 : f.index - 1) + "]";
      }
    }
    return p.empty() ? "(top level)" : p;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits& limits_;
  std::vector<Frame> frames_;
  std::string error_;
};

}  // namespace

Result<json> parseJson(std::string_view text, const JsonLimits& limits) {
  json out;
  BoundedSax sax(out, limits);
  bool ok = json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json,
                            /*strict=*/true, /*ignore_comments=*/false);
  if (!ok || out.is_discarded()) {
    return Status::invalid(sax.error().empty() ? "invalid JSON" : sax.error());
  }
  return out;
}

json parseJsonOrDiscarded(std::string_view text, const JsonLimits& limits) {
  auto r = parseJson(text, limits);
  if (!r) return json(json::value_t::discarded);
  return std::move(r).value();
}

}  // namespace evg
