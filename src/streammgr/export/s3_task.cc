#include "streammgr/export/s3_task.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include "base/json.h"
#include "streammgr/export/exporters.h"

namespace evg::streammgr::exporter {

using nlohmann::json;

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> fileUrlPath(const std::string& url) {
  std::string rest;
  if (url.rfind("file://", 0) == 0) {
    rest = url.substr(7);
    if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);
  } else if (url.rfind("file:/", 0) == 0) {
    rest = url.substr(5);
  } else {
    return Status::invalid("inputUrl \"" + url + "\" is not a file:// URL");
  }
  if (rest.empty() || rest[0] != '/') {
    return Status::invalid("inputUrl \"" + url + "\" does not name an absolute local path");
  }
  std::string path;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() + 0 && hexval(rest[i + 1]) >= 0 &&
        hexval(rest[i + 2]) >= 0) {
      path += static_cast<char>(hexval(rest[i + 1]) * 16 + hexval(rest[i + 2]));
      i += 2;
    } else {
      path += rest[i];
    }
  }
  return path;
}

bool retryableS3(const aws::HttpResponse& r) {
  return r.status == 403 || r.status == 408 || r.status == 429 || r.status >= 500;
}

std::string xmlValue(const std::string& body, const std::string& tag) {
  size_t a = body.find("<" + tag + ">");
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  size_t b = body.find("</" + tag + ">", a);
  return b == std::string::npos ? "" : body.substr(a, b - a);
}

}  // namespace

Result<S3Task> parseS3Task(std::string_view payload) {
  auto j = parseJson(payload);
  if (!j) return Status::invalid("not an S3ExportTaskDefinition: " + j.status().message());
  if (!j->is_object()) return Status::invalid("not an S3ExportTaskDefinition: not a JSON object");
  S3Task t;
  auto get = [&](const char* k, std::string* out) -> Status {
    auto it = j->find(k);
    if (it == j->end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status::invalid(std::string(k) + " is required (a non-empty string)");
    }
    *out = it->get<std::string>();
    return Status::ok();
  };
  std::string url;
  EVG_RETURN_IF_ERROR(get("inputUrl", &url));
  EVG_RETURN_IF_ERROR(get("bucket", &t.bucket));
  EVG_RETURN_IF_ERROR(get("key", &t.key));
  static const std::regex kBucket("^[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]$");
  if (!std::regex_match(t.bucket, kBucket)) {
    return Status::invalid("bucket \"" + t.bucket + "\" is not a valid S3 bucket name");
  }
  if (t.key.size() > 1024) return Status::invalid("key is longer than 1024 characters");
  auto path = fileUrlPath(url);
  if (!path) return path.status();
  t.path = std::move(*path);
  json def = {{"inputUrl", url}, {"bucket", t.bucket}, {"key", t.key}};
  if (auto md = j->find("userMetadata"); md != j->end() && !md->is_null()) {
    if (!md->is_object()) return Status::invalid("userMetadata must be an object");
    for (auto it = md->begin(); it != md->end(); ++it) {
      t.userMetadata.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
    }
    def["userMetadata"] = *md;
  }
  t.definition = std::move(def);
  return t;
}

std::string s3ObjectPath(const S3Task& t) {
  return "/" + t.bucket + "/" + aws::uriEncode(t.key, /*keep_slash=*/true);
}

aws::HttpRequest s3PutObject(const S3Task& t, std::string body) {
  aws::HttpRequest r;
  r.method = "PUT";
  r.target = s3ObjectPath(t);
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  for (const auto& [k, v] : t.userMetadata) r.headers.emplace_back("x-amz-meta-" + k, v);
  r.body = std::move(body);
  return r;
}

aws::HttpRequest s3CreateMultipartUpload(const S3Task& t) {
  aws::HttpRequest r;
  r.method = "POST";
  r.target = s3ObjectPath(t) + "?uploads=";
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  for (const auto& [k, v] : t.userMetadata) r.headers.emplace_back("x-amz-meta-" + k, v);
  return r;
}

Result<std::string> parseUploadId(const aws::HttpResponse& r) {
  std::string id = xmlValue(r.body, "UploadId");
  if (id.empty()) return Status::invalid("CreateMultipartUpload answer has no UploadId");
  return id;
}

aws::HttpRequest s3UploadPart(const S3Task& t, const std::string& uploadId, int partNumber,
                              std::string body) {
  aws::HttpRequest r;
  r.method = "PUT";
  r.target = s3ObjectPath(t) + "?partNumber=" + std::to_string(partNumber) +
             "&uploadId=" + aws::uriEncode(uploadId);
  r.body = std::move(body);
  return r;
}

aws::HttpRequest s3CompleteMultipartUpload(const S3Task& t, const std::string& uploadId,
                                           const std::vector<std::string>& etags) {
  aws::HttpRequest r;
  r.method = "POST";
  r.target = s3ObjectPath(t) + "?uploadId=" + aws::uriEncode(uploadId);
  r.headers.emplace_back("Content-Type", "application/xml");
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] +
            "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  r.body = std::move(body);
  return r;
}

aws::HttpRequest s3AbortMultipartUpload(const S3Task& t, const std::string& uploadId) {
  aws::HttpRequest r;
  r.method = "DELETE";
  r.target = s3ObjectPath(t) + "?uploadId=" + aws::uriEncode(uploadId);
  return r;
}

StatusLevel levelOf(TaskStatus s) {
  switch (s) {
    case TaskStatus::kFailure:
      return StatusLevel::kError;
    case TaskStatus::kWarning:
      return StatusLevel::kWarn;
    default:
      return StatusLevel::kInfo;
  }
}

std::string statusMessageJson(TaskStatus status, const json& taskDefinition,
                              const std::string& exportIdentifier, const std::string& streamName,
                              int64_t sequenceNumber, const std::string& message, int64_t nowMs) {
  json ctx = {{"exportIdentifier", exportIdentifier},
              {"streamName", streamName},
              {"sequenceNumber", sequenceNumber}};
  if (!taskDefinition.is_null()) ctx["s3ExportTaskDefinition"] = taskDefinition;
  json m = {{"eventType", 0},
            {"statusLevel", static_cast<int>(levelOf(status))},
            {"status", static_cast<int>(status)},
            {"statusContext", std::move(ctx)},
            {"timestampEpochMs", nowMs}};
  if (!message.empty()) m["message"] = message;
  return m.dump();
}

namespace {

// One upload in progress; kept alive by the callbacks it hands to the client.
struct Upload : std::enable_shared_from_this<Upload> {
  aws::AwsClient& s3;
  S3Task task;
  S3Limits limits;
  std::function<void(S3Outcome)> done;
  int fd = -1;
  int64_t size = 0;
  int64_t partBytes = 0;
  std::string uploadId;
  std::vector<std::string> etags;

  Upload(aws::AwsClient& c, S3Task t, S3Limits l, std::function<void(S3Outcome)> d)
      : s3(c), task(std::move(t)), limits(l), done(std::move(d)) {}
  ~Upload() {
    if (fd >= 0) ::close(fd);
  }

  void finish(S3Outcome::Kind k, std::string msg) {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    if (!uploadId.empty() && k != S3Outcome::kDone) {
      s3.call(s3AbortMultipartUpload(task, uploadId), [](Result<aws::HttpResponse>) {});
    }
    auto cb = std::move(done);
    cb(S3Outcome{k, std::move(msg)});
  }

  Result<std::string> readAt(int64_t off, int64_t n) {
    std::string buf(static_cast<size_t>(n), '\0');
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t r = ::pread(fd, buf.data() + got, buf.size() - got, off + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return Status::io("cannot read " + task.path + ": file changed or unreadable");
      got += static_cast<size_t>(r);
    }
    return buf;
  }

  // Classifies a step's answer; true when it may continue.
  bool ok(const Result<aws::HttpResponse>& r, const char* step) {
    if (!r) {
      finish(S3Outcome::kRetry, std::string(step) + ": " + r.status().message());
      return false;
    }
    bool errorBody = r->body.find("<Error>") != std::string::npos;
    if (r->status >= 200 && r->status <= 299 && !errorBody) return true;
    std::string why = std::string(step) + ": " + describeHttpFailure(*r);
    finish(retryableS3(*r) || errorBody ? S3Outcome::kRetry : S3Outcome::kFailed, why);
    return false;
  }

  void start() {
    fd = ::open(task.path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      return finish(S3Outcome::kFailed, "cannot open " + task.path + ": " +
                                            (fd < 0 ? std::string(strerror(errno))
                                                    : std::string("not a regular file")));
    }
    size = st.st_size;
    if (size < limits.multipartThresholdBytes && size <= limits.maxSinglePutBytes) {
      auto body = readAt(0, size);
      if (!body) return finish(S3Outcome::kFailed, body.status().message());
      auto self = shared_from_this();
      return s3.call(s3PutObject(task, std::move(*body)), [self](Result<aws::HttpResponse> r) {
        if (self->ok(r, "PutObject")) self->finish(S3Outcome::kDone, "");
      });
    }
    // At most 10,000 parts (S3's limit).
    partBytes = std::max(limits.minPartBytes, (size + 9999) / 10000);
    auto self = shared_from_this();
    s3.call(s3CreateMultipartUpload(task), [self](Result<aws::HttpResponse> r) {
      if (!self->ok(r, "CreateMultipartUpload")) return;
      auto id = parseUploadId(*r);
      if (!id) return self->finish(S3Outcome::kRetry, id.status().message());
      self->uploadId = *id;
      self->nextPart();
    });
  }

  void nextPart() {
    int64_t off = static_cast<int64_t>(etags.size()) * partBytes;
    if (off >= size && !etags.empty()) return complete();
    auto body = readAt(off, std::min(partBytes, size - off));
    if (!body) return finish(S3Outcome::kFailed, body.status().message());
    int n = static_cast<int>(etags.size()) + 1;
    auto self = shared_from_this();
    s3.call(s3UploadPart(task, uploadId, n, std::move(*body)), [self](Result<aws::HttpResponse> r) {
      if (!self->ok(r, "UploadPart")) return;
      const std::string* etag = r->header("ETag");
      if (!etag) return self->finish(S3Outcome::kRetry, "UploadPart: answer has no ETag");
      self->etags.push_back(*etag);
      self->nextPart();
    });
  }

  void complete() {
    auto self = shared_from_this();
    s3.call(s3CompleteMultipartUpload(task, uploadId, etags), [self](Result<aws::HttpResponse> r) {
      if (!self->ok(r, "CompleteMultipartUpload")) return;
      self->uploadId.clear();
      self->finish(S3Outcome::kDone, "");
    });
  }
};

}  // namespace

void runS3Upload(aws::AwsClient& s3, S3Task task, S3Limits limits,
                 std::function<void(S3Outcome)> done) {
  std::make_shared<Upload>(s3, std::move(task), limits, std::move(done))->start();
}

}  // namespace evg::streammgr::exporter
