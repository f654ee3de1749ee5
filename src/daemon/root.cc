#include "daemon/root.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "certs/certs.h"
#include "config/config.h"

namespace evg::daemon {

namespace fs = std::filesystem;

RootPaths RootPaths::of(const std::string& root_in) {
  std::error_code ec;
  std::string root = fs::absolute(root_in, ec).lexically_normal().string();
  if (root.size() > 1 && root.back() == '/') root.pop_back();
  RootPaths p;
  p.root = root;
  p.config_file = root + "/config/config.json";
  p.certs_dir = root + "/certs";
  p.device_certs_dir = root + "/certs/devices";
  p.revoked_file = root + "/certs/revoked.txt";
  p.group_file = root + "/deployment/group/group.json";
  p.functions_dir = root + "/functions";
  p.system_log_dir = root + "/var/log/system";
  p.user_log_dir = root + "/var/log/user";
  p.run_dir = root + "/var/run";
  p.control_socket = root + "/var/run/evergreen.sock";
  p.shadow_db = root + "/var/shadow/shadows.db";
  p.resources_dir = root + "/resources";
  return p;
}

Status writeFileAtomic(const std::string& path, const std::string& data, unsigned mode) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::io("open " + tmp + ": " + strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::io("write " + tmp + ": " + strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status::io("fsync " + tmp + ": " + strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status::io("rename " + tmp + " -> " + path + ": " + strerror(e));
  }
  return Status::ok();
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::notFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::vector<std::string>> initRoot(const RootPaths& p) {
  std::vector<std::string> created;
  for (const auto& d :
       {p.root + "/config", p.certs_dir, p.device_certs_dir, p.root + "/deployment/group",
        p.functions_dir, p.system_log_dir, p.user_log_dir, p.run_dir}) {
    std::error_code ec;
    if (!fs::exists(d)) {
      fs::create_directories(d, ec);
      if (ec) return Status::io("create " + d + ": " + ec.message());
    }
  }
  if (!fs::exists(p.config_file)) {
    EVG_RETURN_IF_ERROR(
        writeFileAtomic(p.config_file, config::defaultConfigJson().dump(2) + "\n", 0644));
    created.push_back("default config " + p.config_file);
  }
  bool had_ca = fs::exists(p.certs_dir + "/group-ca.pem");
  EVG_RETURN_IF_ERROR(certs::ensureGroupCa(p.certs_dir));
  if (!had_ca) created.push_back("group CA " + p.certs_dir + "/group-ca.pem");
  // The core re-checks it at every start with its connectivity addresses (Core::start); here it
  // is only created when missing, so that a CLI verb never re-issues it with other names.
  if (!fs::exists(p.certs_dir + "/server.pem")) {
    EVG_RETURN_IF_ERROR(certs::ensureServerCert(p.certs_dir, {}, {}));
    created.push_back("core server certificate " + p.certs_dir + "/server.pem");
  }
  return created;
}

}  // namespace evg::daemon
