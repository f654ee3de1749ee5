#include "daemon/logs_cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace evg::daemon {

namespace fs = std::filesystem;

namespace {

// Parses "YYYY-MM-DDTHH:MM:SS[.mmm][Z|+hh:mm|-hh:mm]"; local time when no zone is given.
std::optional<int64_t> parseIso(std::string_view s) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  std::tm t{};
  int Y = num(0, 4), M = num(5, 2), D = num(8, 2), h = num(11, 2), m = num(14, 2), sec = num(17, 2);
  if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 ||
      sec < 0 || sec > 60) {
    return std::nullopt;
  }
  t.tm_year = Y - 1900;
  t.tm_mon = M - 1;
  t.tm_mday = D;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = sec;
  size_t i = 19;
  int ms = 0;
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    int digits = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[j] - '0');
      ++digits;
      ++j;
    }
    for (int k = digits; k < 3; ++k) ms *= 10;
    i = j;
  }
  int64_t secs;
  if (i < s.size() && (s[i] == 'Z' || s[i] == '+' || s[i] == '-')) {
    int off = 0;
    if (s[i] != 'Z') {
      if (i + 6 > s.size() || s[i + 3] != ':') return std::nullopt;
      int oh = num(i + 1, 2), om = num(i + 4, 2);
      if (oh < 0 || om < 0) return std::nullopt;
      off = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    }
    secs = static_cast<int64_t>(timegm(&t)) - off;
  } else {
    t.tm_isdst = -1;
    secs = static_cast<int64_t>(mktime(&t));
  }
  return secs * 1000 + ms;
}

struct Line {
  int64_t t;
  size_t seq;
  std::string text;
};

volatile std::sig_atomic_t g_stop = 0;  // set by SIGINT/SIGTERM while following
extern "C" void onStopSignal(int) { g_stop = 1; }

}  // namespace

std::optional<int64_t> lineTimeMs(std::string_view line) {
  if (line.size() < 21 || line[0] != '[') return std::nullopt;
  auto close = line.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  return parseIso(line.substr(1, close - 1));
}

Result<int64_t> parseSince(const std::string& s, int64_t now_ms) {
  if (auto t = parseIso(s)) return *t;
  if (s.size() >= 2) {
    char unit = s.back();
    std::string n = s.substr(0, s.size() - 1);
    bool digits = !n.empty() && std::all_of(n.begin(), n.end(), ::isdigit) && n.size() < 10;
    int64_t mult = unit == 's'   ? 1000
                   : unit == 'm' ? 60000
                   : unit == 'h' ? 3600000
                   : unit == 'd' ? 86400000
                                 : 0;
    if (digits && mult != 0) return now_ms - std::stoll(n) * mult;
  }
  return Status::invalid(
      "--since: expected a duration (30s, 10m, 2h, 1d) or an ISO-8601 time "
      "(2026-12-04T18:00:00), got \"" +
      s + "\"");
}

std::vector<std::string> rotationChain(const std::string& base) {
  std::vector<std::string> out;
  std::error_code ec;
  for (int i = 100; i >= 1; --i) {
    std::string p = base + "." + std::to_string(i);
    if (fs::exists(p, ec)) out.push_back(p);
  }
  if (fs::exists(base, ec)) out.push_back(base);
  return out;
}

Result<std::vector<std::string>> selectLogFiles(const LogsOptions& o) {
  std::error_code ec;
  std::string sys = o.root + "/var/log/system";
  std::string user = o.root + "/var/log/user";
  std::vector<std::string> out;
  if (!o.function.empty()) {
    std::string name = o.function;
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] -> NAME
    if (auto p = name.find(":function:"); p != std::string::npos) {
      name = name.substr(p + 10);
      name = name.substr(0, name.find(':'));
    }
    std::vector<std::string> known;
    if (fs::is_directory(user, ec)) {
      for (auto it = fs::recursive_directory_iterator(user, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec) || it->path().extension() != ".log") continue;
        if (it->path().stem() == name) {
          out.push_back(it->path().string());
        } else {
          known.push_back(it->path().stem().string());
        }
      }
    }
    if (out.empty()) {
      std::sort(known.begin(), known.end());
      known.erase(std::unique(known.begin(), known.end()), known.end());
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::notFound("no log for function '" + name + "' under " + user +
                              (list.empty() ? " (no function has logged yet)"
                                            : " (functions with logs: " + list + ")"));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> known;
  if (fs::is_directory(sys, ec)) {
    for (const auto& e : fs::directory_iterator(sys, ec)) {
      if (e.path().extension() == ".log") known.push_back(e.path().stem().string());
    }
  }
  std::sort(known.begin(), known.end());
  if (!o.component.empty()) {
    std::string c = o.component;
    if (c.size() > 4 && c.substr(c.size() - 4) == ".log") c.resize(c.size() - 4);
    if (std::find(known.begin(), known.end(), c) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::notFound("no system log for component '" + c + "' under " + sys +
                              (list.empty() ? "" : " (components: " + list + ")"));
    }
    return std::vector<std::string>{sys + "/" + c + ".log"};
  }
  if (known.empty()) return Status::notFound("no logs under " + sys + " yet");
  for (const auto& k : known) out.push_back(sys + "/" + k + ".log");
  return out;
}

int runLogs(const LogsOptions& o, std::ostream& out, std::ostream& err) {
  auto files = selectLogFiles(o);
  if (!files) {
    err << "evergreen logs: " << files.status().message() << "\n";
    return 1;
  }
  // History: every file of every selected log, merged by time (continuation lines stay with the
  // line they continue).
  std::vector<Line> lines;
  struct Tail {
    std::string path;
    ino_t ino = 0;
    off_t offset = 0;
    std::string partial;
  };
  std::vector<Tail> tails;
  size_t seq = 0;
  for (const auto& base : *files) {
    int64_t last_t = 0;
    for (const auto& p : rotationChain(base)) {
      std::ifstream in(p, std::ios::binary);
      std::string l;
      while (std::getline(in, l)) {
        if (auto t = lineTimeMs(l)) last_t = *t;
        lines.push_back({last_t, seq++, std::move(l)});
      }
    }
    Tail t{base};
    struct stat st {};
    if (::stat(base.c_str(), &st) == 0) {
      t.ino = st.st_ino;
      t.offset = st.st_size;
    }
    tails.push_back(std::move(t));
  }
  if (files->size() > 1) {
    std::stable_sort(lines.begin(), lines.end(),
                     [](const Line& a, const Line& b) { return a.t < b.t; });
  }
  std::vector<const Line*> shown;
  for (const auto& l : lines) {
    if (o.since_ms && l.t < *o.since_ms) continue;
    shown.push_back(&l);
  }
  size_t first = o.lines && shown.size() > *o.lines ? shown.size() - *o.lines : 0;
  for (size_t i = first; i < shown.size(); ++i) out << shown[i]->text << "\n";
  out.flush();
  if (!o.follow) return 0;

  // Follow: poll each current file; a new inode or a shorter file means it was rotated, so the
  // rest of the old file is gone to .1 and we read the new one from its start.
  g_stop = 0;
  auto old_int = std::signal(SIGINT, onStopSignal);
  auto old_term = std::signal(SIGTERM, onStopSignal);
  while (!g_stop) {
    for (auto& t : tails) {
      struct stat st {};
      if (::stat(t.path.c_str(), &st) != 0) continue;
      if (st.st_ino != t.ino || st.st_size < t.offset) {
        t.ino = st.st_ino;
        t.offset = 0;
        t.partial.clear();
      }
      if (st.st_size == t.offset) continue;
      std::ifstream in(t.path, std::ios::binary);
      in.seekg(t.offset);
      std::string chunk(static_cast<size_t>(st.st_size - t.offset), '\0');
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<size_t>(in.gcount()));
      t.offset += static_cast<off_t>(chunk.size());
      t.partial += chunk;
      size_t nl = t.partial.rfind('\n');
      if (nl == std::string::npos) continue;
      out << t.partial.substr(0, nl + 1);
      out.flush();
      t.partial.erase(0, nl + 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return 0;
}

}  // namespace evg::daemon
