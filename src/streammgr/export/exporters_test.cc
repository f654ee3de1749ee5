#include "streammgr/export/exporters.h"

#include <gtest/gtest.h>

#include "base/base64.h"

namespace evg::streammgr::exporter {
namespace {

using nlohmann::json;

StoredMessage msg(int64_t seq, std::string payload) {
  return StoredMessage{"s", seq, 1000 + seq, std::move(payload)};
}

aws::HttpResponse ok(std::string body) {
  aws::HttpResponse r;
  r.status = 200;
  r.body = std::move(body);
  return r;
}

TEST(Exporters, Base64AndUuid) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  std::mt19937_64 rng(1);
  std::string a = randomUuid(rng), b = randomUuid(rng);
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
}

TEST(Exporters, KinesisPutRecords) {
  auto m1 = msg(1, "hello"), m2 = msg(2, std::string("\0\x01", 2));
  std::mt19937_64 rng(2);
  auto req = kinesisPutRecords("ks", {&m1, &m2}, rng);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/");
  bool target = false, ctype = false;
  for (auto& [k, v] : req.headers) {
    target = target || (k == "X-Amz-Target" && v == "Kinesis_20131202.PutRecords");
    ctype = ctype || (k == "Content-Type" && v == "application/x-amz-json-1.1");
  }
  EXPECT_TRUE(target && ctype);
  auto j = json::parse(req.body);
  EXPECT_EQ(j["StreamName"], "ks");
  ASSERT_EQ(j["Records"].size(), 2u);
  EXPECT_EQ(j["Records"][0]["Data"], "aGVsbG8=");
  EXPECT_EQ(j["Records"][1]["Data"], "AAE=");
  EXPECT_EQ(j["Records"][0]["PartitionKey"].get<std::string>().size(), 36u);
  EXPECT_NE(j["Records"][0]["PartitionKey"], j["Records"][1]["PartitionKey"]);

  auto r = parseKinesisPutRecords(
      ok(R"({"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},)"
         R"({"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"slow down"}]})"),
      2);
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->accepted, (std::vector<bool>{true, false}));
  EXPECT_EQ(r->error, "ProvisionedThroughputExceededException: slow down");
  EXPECT_FALSE(parseKinesisPutRecords(ok(R"({"Records":[]})"), 2));
  aws::HttpResponse bad;
  bad.status = 400;
  bad.body = R"({"__type":"ResourceNotFoundException"})";
  auto e = parseKinesisPutRecords(bad, 1);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.status().message(), "HTTP 400: {\"__type\":\"ResourceNotFoundException\"}");
}

TEST(Exporters, IotAnalyticsBatchPut) {
  auto m1 = msg(10, "a"), m2 = msg(11, "b");
  auto req = iotAnalyticsBatchPut("chan", "pre-", {&m1, &m2});
  EXPECT_EQ(req.target, "/messages/batch");
  auto j = json::parse(req.body);
  EXPECT_EQ(j["channelName"], "chan");
  EXPECT_EQ(j["messages"][0]["messageId"], "pre-10");
  EXPECT_EQ(j["messages"][1]["payload"], "Yg==");
  auto r = parseIotAnalyticsBatchPut(
      ok(R"({"batchPutMessageErrorEntries":[{"messageId":"pre-11","errorCode":"X","errorMessage":"y"}]})"),
      {"pre-10", "pre-11"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, (std::vector<bool>{true, false}));
  EXPECT_EQ(r->error, "entry pre-11: X: y");
  EXPECT_EQ(parseIotAnalyticsBatchPut(ok("{}"), {"a"})->accepted, std::vector<bool>{true});
}

TEST(Exporters, SitewiseEntries) {
  auto e = sitewiseEntry(R"({"entryId":"e1","propertyAlias":"/a/b","propertyValues":[
      {"value":{"doubleValue":1.5},"timestamp":{"timeInSeconds":1700000000,"offsetInNanos":5},
       "quality":"GOOD"}]})");
  ASSERT_TRUE(e) << e.status().toString();
  EXPECT_EQ((*e)["propertyValues"][0]["value"]["doubleValue"], 1.5);
  auto req = sitewiseBatchPut({*e});
  EXPECT_EQ(req.target, "/properties");
  EXPECT_EQ(json::parse(req.body)["entries"][0]["entryId"], "e1");
  EXPECT_EQ(sitewiseEntry("not json").status().code(), Code::kInvalid);
  EXPECT_EQ(sitewiseEntry(R"({"entryId":"e1","propertyValues":[]})").status().message(),
            "entry e1 names neither propertyAlias nor assetId + propertyId");
  EXPECT_EQ(
      sitewiseEntry(
          R"({"entryId":"e1","propertyAlias":"p","propertyValues":[{"value":{},"timestamp":{"timeInSeconds":1}}]})")
          .status()
          .message(),
      "entry e1: propertyValues[0].value must hold exactly one of stringValue, integerValue, "
      "doubleValue, booleanValue");
  EXPECT_EQ(
      sitewiseEntry(
          R"({"entryId":"e1","propertyAlias":"p","propertyValues":[{"value":{"integerValue":1},"timestamp":{"timeInSeconds":1},"quality":"MEH"}]})")
          .status()
          .message(),
      "entry e1: propertyValues[0].quality must be GOOD, BAD or UNCERTAIN");
  auto r = parseSitewiseBatchPut(
      ok(R"({"errorEntries":[{"entryId":"e2","errors":[{"errorCode":"InternalFailureException","errorMessage":"m"}]}]})"),
      {"e1", "e2"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, (std::vector<bool>{true, false}));
  EXPECT_EQ(r->error, "entry e2: InternalFailureException: m");
}

TEST(Exporters, HttpExporter) {
  auto t = parseHttpUri("http://127.0.0.1:8080/in/put?x=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->endpoint.port, 8080);
  EXPECT_FALSE(t->endpoint.tls);
  EXPECT_EQ(t->target, "/in/put?x=1");
  EXPECT_EQ(parseHttpUri("https://h")->target, "/");
  auto m1 = msg(1, "raw"), m2 = msg(2, "x");
  auto raw = httpExport(*t, HttpFormat::kRawNotBatched, {&m1});
  EXPECT_EQ(raw.body, "raw");
  auto batched = httpExport(*t, HttpFormat::kJsonBatched, {&m1, &m2});
  auto j = json::parse(batched.body);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["sequenceNumber"], 2);
  EXPECT_EQ(j[0]["payload"], "cmF3");
}

}  // namespace
}  // namespace evg::streammgr::exporter
