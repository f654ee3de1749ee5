#pragma once
// Sans-I/O request builders and response parsers of the stream manager's exporters: Kinesis Data
// Streams PutRecords, IoT Analytics BatchPutMessage, IoT SiteWise BatchPutAssetPropertyValue and
// the HTTP exporter. They build aws::HttpRequest values (signed later by aws::AwsClient) and turn
// the service's answer into a per-entry verdict: which of the entries sent were accepted, so that
// only the failed ones are sent again. No I/O, no clock (the UUID generator is passed in).

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "aws/http_client.h"
#include "base/status.h"
#include "streammgr/export/export_config.h"
#include "streammgr/export/stream_access.h"

namespace evg::streammgr::exporter {

// A random (version 4) UUID, lower-case: the Kinesis partition key of each record.
std::string randomUuid(std::mt19937_64& rng);

// Per-record limits of the services (a larger message can never be accepted: it is skipped and
// reported instead of blocking the stream).
inline constexpr size_t kKinesisMaxRecordBytes = 1u << 20;          // 1 MiB
inline constexpr size_t kIotAnalyticsMaxMessageBytes = 128u << 10;  // 128 KiB
size_t maxRecordBytes(Kind k);                                      // 0 = no limit

// Verdict for the entries of one request, in the order they were sent.
struct BatchResult {
  std::vector<bool> accepted;
  std::string error;  // first per-entry error ("" when every entry was accepted)
};

// "HTTP 400: <first 300 bytes of the body>" for a response that is not 2xx.
std::string describeHttpFailure(const aws::HttpResponse& r);

// --- Kinesis Data Streams: POST / (JSON 1.1, X-Amz-Target: Kinesis_20131202.PutRecords) ------
aws::HttpRequest kinesisPutRecords(const std::string& streamName,
                                   const std::vector<const StoredMessage*>& msgs,
                                   std::mt19937_64& rng);
// 2xx body {"FailedRecordCount": n, "Records": [{"SequenceNumber"...} | {"ErrorCode"...}]}.
Result<BatchResult> parseKinesisPutRecords(const aws::HttpResponse& r, size_t sent);

// --- IoT Analytics: POST /messages/batch {"channelName", "messages":[{messageId, payload}]} ----
// messageId = prefix + sequence number (unique per channel as long as the prefix is).
std::string iotAnalyticsMessageId(const std::string& prefix, int64_t sequenceNumber);
aws::HttpRequest iotAnalyticsBatchPut(const std::string& channel, const std::string& prefix,
                                      const std::vector<const StoredMessage*>& msgs);
// 2xx body {"batchPutMessageErrorEntries": [{"messageId","errorCode","errorMessage"}]}.
Result<BatchResult> parseIotAnalyticsBatchPut(const aws::HttpResponse& r,
                                              const std::vector<std::string>& messageIds);

// --- IoT SiteWise: POST /properties {"entries": [PutAssetPropertyValueEntry]} -----------------
// One message payload (JSON PutAssetPropertyValueEntry of §6.4) validated and normalised to the
// service's shape; Invalid naming the problem for a payload that can never be sent.
Result<nlohmann::json> sitewiseEntry(std::string_view payload);
aws::HttpRequest sitewiseBatchPut(const std::vector<nlohmann::json>& entries);
// 2xx body {"errorEntries": [{"entryId", "errors": [{"errorCode","errorMessage"}]}]}.
Result<BatchResult> parseSitewiseBatchPut(const aws::HttpResponse& r,
                                          const std::vector<std::string>& entryIds);

// --- HTTP exporter -------------------------------------------------------------------------
struct HttpTarget {
  aws::Endpoint endpoint;
  std::string target;  // path and query ("/" when the URI has none)
};
Result<HttpTarget> parseHttpUri(const std::string& uri);
// RAW_NOT_BATCHED: the payload of msgs[0] as the body (application/octet-stream), with
// X-Stream-Name / X-Sequence-Number headers. JSON_BATCHED: a JSON array of {"streamName",
// "sequenceNumber", "ingestTime", "payload" (base64)}. Any 2xx answer accepts every entry.
aws::HttpRequest httpExport(const HttpTarget& t, HttpFormat format,
                            const std::vector<const StoredMessage*>& msgs);

}  // namespace evg::streammgr::exporter
