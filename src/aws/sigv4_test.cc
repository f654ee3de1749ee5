// SigV4 against AWS's published test suite (sigv4_test_vectors.h) and the S3 documentation's
// GET Object example: canonical request, string to sign and Authorization must match exactly.
#include "aws/sigv4.h"

#include <gtest/gtest.h>

#include "aws/sigv4_test_vectors.h"

namespace evg::aws {
namespace {

const Credentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

SigningOptions suiteOptions() {
  SigningOptions o;
  o.region = "us-east-1";
  o.service = "service";
  o.amz_date = "20150830T123600Z";
  return o;
}

SignableRequest fromCase(const testdata::SuiteCase& c) {
  SignableRequest r;
  r.method = c.method;
  r.path = c.path;
  r.query = c.query;
  r.headers = c.headers;
  r.payload = c.body;
  return r;
}

const testdata::SuiteCase& suiteCase(std::string_view name) {
  for (const auto& c : testdata::suiteCases()) {
    if (name == c.name) return c;
  }
  ADD_FAILURE() << "no suite case " << name;
  return testdata::suiteCases().front();
}

// The two form-urlencoded cases are internally inconsistent in the published files: their
// .req/.creq carry a Content-Length header that was added to the suite later, while .sts/.authz
// are still those of the original request without it (and, for "-parameters", with
// "charset=utf8"). Their canonical request is checked against .creq; post-x-www-form-urlencoded's
// string to sign and Authorization are checked on the original request (PostXWwwFormUrlencoded).
bool formCase(std::string_view name) { return name.rfind("post-x-www-form-urlencoded", 0) == 0; }

TEST(SigV4Suite, EveryPublishedCaseMatchesExactly) {
  ASSERT_GE(testdata::suiteCases().size(), 28u);
  for (const auto& c : testdata::suiteCases()) {
    SCOPED_TRACE(c.name);
    Signature s = computeSignature(fromCase(c), kSuiteCreds, suiteOptions());
    EXPECT_EQ(s.canonical_request, c.creq);
    if (formCase(c.name)) continue;
    EXPECT_EQ(s.string_to_sign, c.sts);
    EXPECT_EQ(s.authorization, c.authz);
  }
}

// The three cases named in the brief, spelled out so a regression names them directly.
TEST(SigV4Suite, GetVanilla) {
  const auto& c = suiteCase("get-vanilla");
  Signature s = computeSignature(fromCase(c), kSuiteCreds, suiteOptions());
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Suite, PostXWwwFormUrlencoded) {
  const auto& c = suiteCase("post-x-www-form-urlencoded");
  SignableRequest r = fromCase(c);
  Signature s = computeSignature(r, kSuiteCreds, suiteOptions());
  EXPECT_EQ(s.signed_headers, "content-length;content-type;host;x-amz-date");
  EXPECT_EQ(s.canonical_request, c.creq);
  // The original request of the suite (no Content-Length): .sts and .authz exactly.
  std::erase_if(r.headers, [](const auto& kv) { return kv.first == "Content-Length"; });
  s = computeSignature(r, kSuiteCreds, suiteOptions());
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(s.string_to_sign, c.sts);
  EXPECT_EQ(s.authorization, c.authz);
}

TEST(SigV4Suite, GetVanillaQueryOrderKeyCase) {
  const auto& c = suiteCase("get-vanilla-query-order-key-case");
  Signature s = computeSignature(fromCase(c), kSuiteCreds, suiteOptions());
  EXPECT_NE(s.canonical_request.find("\nParam1=value1&Param2=value2\n"), std::string::npos);
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

// Header variant with a session token: "post-sts-header-before" signs X-Amz-Security-Token,
// "post-sts-header-after" adds it after signing.
TEST(SigV4Sign, SecurityTokenBeforeAndAfter) {
  Credentials creds = kSuiteCreds;
  creds.session_token = testdata::kSuiteStsToken;
  SignableRequest r;
  r.method = "POST";
  r.headers = {{"Host", "example.amazonaws.com"}};
  SigningOptions o = suiteOptions();
  SignableRequest before = r;
  Signature s = signRequest(before, creds, o);
  EXPECT_EQ(s.authorization, suiteCase("post-sts-header-before").authz);
  SignableRequest after = r;
  o.sign_security_token = false;
  s = signRequest(after, creds, o);
  EXPECT_EQ(s.authorization, suiteCase("post-sts-header-after").authz);
  bool has_token = false, has_auth = false, has_date = false;
  for (const auto& [k, v] : after.headers) {
    if (k == "X-Amz-Security-Token") has_token = v == creds.session_token;
    if (k == "Authorization") has_auth = v == s.authorization;
    if (k == "X-Amz-Date") has_date = v == "20150830T123600Z";
  }
  EXPECT_TRUE(has_token && has_auth && has_date);
}

// S3 documentation, "Signature Calculations for the Authorization Header", Example: GET Object.
TEST(SigV4Sign, S3GetObjectDocumentationExample) {
  Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  SignableRequest r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  SigningOptions o;
  o.region = "us-east-1";
  o.service = "s3";
  o.amz_date = "20130524T000000Z";
  o.s3 = true;
  o.content_sha256_header = true;
  Signature s = signRequest(r, creds, o);
  EXPECT_EQ(
      s.canonical_request,
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Presign, QueryVariantCarriesTheSignatureOfItsOwnCanonicalRequest) {
  Credentials creds = kSuiteCreds;
  creds.session_token = "tok/en+";
  SignableRequest r;
  r.path = "/path";
  r.query = "Action=ListUsers&Version=2010-05-08";
  r.headers = {{"Host", "example.amazonaws.com"}};
  SigningOptions o = suiteOptions();
  std::string q = presignQuery(r, creds, o, 300);
  EXPECT_NE(q.find("X-Amz-Algorithm=AWS4-HMAC-SHA256"), std::string::npos);
  EXPECT_NE(q.find("X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request"),
            std::string::npos);
  EXPECT_NE(q.find("X-Amz-Expires=300"), std::string::npos);
  EXPECT_NE(q.find("X-Amz-Security-Token=tok%2Fen%2B"), std::string::npos);
  EXPECT_NE(q.find("X-Amz-SignedHeaders=host"), std::string::npos);
  // Verify like a service would: strip the signature, recompute.
  size_t p = q.find("&X-Amz-Signature=");
  ASSERT_NE(p, std::string::npos);
  std::string sig = q.substr(p + 17);
  SignableRequest check = r;
  check.query = q.substr(0, p);
  EXPECT_EQ(computeSignature(check, creds, o).signature, sig);
  EXPECT_EQ(sig.size(), 64u);
}

TEST(SigV4Util, EncodingAndDates) {
  EXPECT_EQ(uriEncode("a b/c~"), "a%20b%2Fc~");
  EXPECT_EQ(uriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(amzDate(std::chrono::system_clock::time_point(std::chrono::seconds(1440938160))),
            "20150830T123600Z");
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace evg::aws
