#include "streammgr/export/export_config.h"

#include <gtest/gtest.h>

#include "streammgr/export/exporters.h"
#include "streammgr/export/s3_task.h"

namespace evg::streammgr::exporter {
namespace {

using nlohmann::json;

std::string err(const json& def) {
  auto r = parseExportDefinition(def);
  return r ? "" : r.status().message();
}

TEST(ExportConfig, AllKindsWithTheirWireKeys) {
  json def = json::parse(R"({
    "kinesis": [{"identifier": "k1", "kinesisStreamName": "ks", "batchSize": 500,
                 "batchIntervalMillis": 60000, "priority": 1, "startSequenceNumber": 7}],
    "iotAnalytics": [{"identifier": "a1", "iotChannel": "ch", "iotMsgIdPrefix": "p-"}],
    "IotSitewise": [{"identifier": "s1", "batchSize": 10, "disabled": true}],
    "s3TaskExecutor": [{"identifier": "t1", "sizeThresholdForMultipartUploadBytes": 6000000,
                        "statusConfig": {"statusLevel": 4, "statusStreamName": "st"}}],
    "http": [{"identifier": "h1", "uri": "http://127.0.0.1:9/x", "exportFormat": 1}]})");
  auto r = parseExportDefinition(def);
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->size(), 5u);
  const auto& k = (*r)[0];
  EXPECT_EQ(k.kind, Kind::kKinesis);
  EXPECT_EQ(k.kinesisStreamName, "ks");
  EXPECT_EQ(k.batchSize, 500u);
  EXPECT_EQ(k.batchIntervalMs, 60000);
  EXPECT_EQ(k.priority, 1);
  EXPECT_EQ(k.startSequenceNumber, 7);
  EXPECT_EQ((*r)[1].iotMsgIdPrefix, "p-");
  EXPECT_EQ((*r)[1].batchSize, 100u);  // default = the kind's maximum
  EXPECT_EQ((*r)[1].priority, kLowestPriority);
  EXPECT_EQ((*r)[2].kind, Kind::kIotSitewise);
  EXPECT_TRUE((*r)[2].disabled);
  EXPECT_EQ((*r)[3].multipartThresholdBytes, 6000000);
  EXPECT_EQ((*r)[3].statusLevel, StatusLevel::kTrace);
  EXPECT_EQ((*r)[3].statusStreamName, "st");
  EXPECT_EQ((*r)[4].httpFormat, HttpFormat::kJsonBatched);
  EXPECT_TRUE(parseExportDefinition(json())->empty());
  EXPECT_TRUE(parseExportDefinition(json::object())->empty());
}

TEST(ExportConfig, ErrorsNameTheField) {
  EXPECT_EQ(err(json::parse(
                R"({"kinesis":[{"identifier":"k","kinesisStreamName":"s","batchSize":501}]})")),
            "exportDefinition.kinesis[0].batchSize: 501 is above the maximum 500");
  EXPECT_EQ(
      err(json::parse(R"({"iotAnalytics":[{"identifier":"a","iotChannel":"c","batchSize":101}]})")),
      "exportDefinition.iotAnalytics[0].batchSize: 101 is above the maximum 100");
  EXPECT_EQ(err(json::parse(R"({"IotSitewise":[{"identifier":"s","batchSize":0}]})")),
            "exportDefinition.IotSitewise[0].batchSize: 0 is below the minimum 1");
  EXPECT_EQ(err(json::parse(R"({"IotSitewise":[{"identifier":"s","batchSize":11}]})")),
            "exportDefinition.IotSitewise[0].batchSize: 11 is above the maximum 10");
  EXPECT_EQ(
      err(json::parse(
          R"({"iotAnalytics":[{"identifier":"a","iotChannel":"c","iotMsgIdPrefix":"123456789012345678901234567890123"}]})")),
      "exportDefinition.iotAnalytics[0].iotMsgIdPrefix: is longer than 32 characters");
  EXPECT_EQ(
      err(json::parse(
          R"({"s3TaskExecutor":[{"identifier":"t","sizeThresholdForMultipartUploadBytes":5242879}]})")),
      "exportDefinition.s3TaskExecutor[0].sizeThresholdForMultipartUploadBytes: 5242879 is "
      "below the minimum 5242880");
  EXPECT_EQ(
      err(json::parse(
          R"({"kinesis":[{"identifier":"k","kinesisStreamName":"s","batchIntervalMillis":59999}]})")),
      "exportDefinition.kinesis[0].batchIntervalMillis: 59999 is below the minimum 60000");
  EXPECT_EQ(
      err(json::parse(R"({"kinesis":[{"identifier":"k","kinesisStreamName":"s","priority":11}]})")),
      "exportDefinition.kinesis[0].priority: 11 is above the maximum 10");
  EXPECT_EQ(err(json::parse(R"({"kinesis":[{"identifier":"k"}]})")),
            "exportDefinition.kinesis[0].kinesisStreamName: is required");
  EXPECT_EQ(err(json::parse(R"({"kinesis":[{"kinesisStreamName":"s"}]})")),
            "exportDefinition.kinesis[0].identifier: is required");
  EXPECT_EQ(err(json::parse(R"({"kinesis":[{"identifier":"a/b","kinesisStreamName":"s"}]})")),
            "exportDefinition.kinesis[0].identifier: \"a/b\" does not match ^[\\w ,.\\-_]*$");
  EXPECT_EQ(
      err(json::parse(R"({"kinesis":[{"identifier":"k","kinesisStreamName":"s","disabled":1}]})")),
      "exportDefinition.kinesis[0].disabled: must be a boolean");
  EXPECT_EQ(err(json::parse(R"({"Kinesis":[]})")),
            "exportDefinition: unknown export type \"Kinesis\" (kinesis, iotAnalytics, "
            "IotSitewise, s3TaskExecutor, http)");
  EXPECT_EQ(err(json::parse(R"({"kinesis":{}})")), "exportDefinition.kinesis: must be an array");
  EXPECT_EQ(
      err(json::parse(
          R"({"kinesis":[{"identifier":"x","kinesisStreamName":"s"}],"http":[{"identifier":"x","uri":"http://h/"}]})")),
      "exportDefinition.http[0].identifier: \"x\" is used by another exporter of this stream");
  EXPECT_EQ(err(json::parse(R"({"http":[{"identifier":"h","uri":"ftp://h/"}]})")),
            "exportDefinition.http[0].uri: \"ftp://h/\" is not an http(s) URL");
  EXPECT_EQ(
      err(json::parse(
          R"({"s3TaskExecutor":[{"identifier":"t","statusConfig":{"statusLevel":5,"statusStreamName":"s"}}]})")),
      "exportDefinition.s3TaskExecutor[0].statusConfig.statusLevel: 5 is above the maximum 4");
  EXPECT_EQ(err(json(42)), "exportDefinition: must be an object");
}

TEST(S3Task, ParsesTheTaskDefinition) {
  auto t = parseS3Task(
      R"({"inputUrl":"file:///tmp/a%20b.bin","bucket":"my-bucket","key":"dir/x y.bin","userMetadata":{"k":"v"}})");
  ASSERT_TRUE(t) << t.status().toString();
  EXPECT_EQ(t->path, "/tmp/a b.bin");
  EXPECT_EQ(s3ObjectPath(*t), "/my-bucket/dir/x%20y.bin");
  ASSERT_EQ(t->userMetadata.size(), 1u);
  auto put = s3PutObject(*t, "data");
  EXPECT_EQ(put.method, "PUT");
  bool meta = false;
  for (auto& [k, v] : put.headers) meta = meta || (k == "x-amz-meta-k" && v == "v");
  EXPECT_TRUE(meta);
  EXPECT_EQ(s3UploadPart(*t, "u/1+", 3, "").target,
            "/my-bucket/dir/x%20y.bin?partNumber=3&uploadId=u%2F1%2B");
  EXPECT_EQ(s3CreateMultipartUpload(*t).target, "/my-bucket/dir/x%20y.bin?uploads=");
  auto c = s3CompleteMultipartUpload(*t, "U", {"\"e1\"", "\"e2\""});
  EXPECT_EQ(c.body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part></CompleteMultipartUpload>");
  aws::HttpResponse r;
  r.status = 200;
  r.body =
      "<InitiateMultipartUploadResult><UploadId>abc</UploadId></InitiateMultipartUploadResult>";
  EXPECT_EQ(*parseUploadId(r), "abc");

  EXPECT_EQ(parseS3Task("nope").status().code(), Code::kInvalid);
  EXPECT_EQ(parseS3Task(R"({"inputUrl":"http://x/y","bucket":"bkt","key":"k"})").status().message(),
            "inputUrl \"http://x/y\" is not a file:// URL");
  EXPECT_EQ(parseS3Task(R"({"inputUrl":"file:///x","bucket":"B!","key":"k"})").status().message(),
            "bucket \"B!\" is not a valid S3 bucket name");
  EXPECT_EQ(parseS3Task(R"({"inputUrl":"file:///x","bucket":"bkt"})").status().message(),
            "key is required (a non-empty string)");
}

TEST(S3Task, StatusMessageJson) {
  auto j = json::parse(
      statusMessageJson(TaskStatus::kFailure, json{{"bucket", "b"}}, "id", "s", 4, "boom", 1234));
  EXPECT_EQ(j["eventType"], 0);
  EXPECT_EQ(j["status"], 1);
  EXPECT_EQ(j["statusLevel"], 0);
  EXPECT_EQ(j["message"], "boom");
  EXPECT_EQ(j["timestampEpochMs"], 1234);
  EXPECT_EQ(j["statusContext"]["exportIdentifier"], "id");
  EXPECT_EQ(j["statusContext"]["streamName"], "s");
  EXPECT_EQ(j["statusContext"]["sequenceNumber"], 4);
  EXPECT_EQ(j["statusContext"]["s3ExportTaskDefinition"]["bucket"], "b");
}

}  // namespace
}  // namespace evg::streammgr::exporter
