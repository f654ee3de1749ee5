#include "group/group.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace evg::group {
namespace {

using nlohmann::json;

constexpr const char* kCoreArn = "arn:aws:iot:us-east-1:123456789012:thing/MyCore";
constexpr const char* kDeviceArn = "arn:aws:iot:us-east-1:123456789012:thing/HelloDevice";
constexpr const char* kHelloArn = "arn:aws:lambda:us-east-1:123456789012:function:HelloWorld:1";
constexpr const char* kEchoArn = "arn:aws:lambda:us-east-1:123456789012:function:Echo:PROD";
constexpr const char* kConnArn =
    "arn:aws:greengrass:us-east-1::/connectors/SNSConnector/versions/3";

// Looks like a real deployment: core, one device, the seed functions, cloud and shadow routes.
// Every definition version is written as `aws greengrass get-*-definition-version` returns it;
// the subscription one keeps the whole response (with its Definition key).
json realGroup() {
  return json::parse(
      std::string(R"({
  "CoreDefinitionVersion": {"Cores": [{"Id": "core-1", "ThingArn": ")") +
      kCoreArn + R"(",
      "CertificateArn": "arn:aws:iot:us-east-1:123456789012:cert/aaaa", "SyncShadow": true}]},
  "DeviceDefinitionVersion": {"Devices": [{"Id": "dev-1", "ThingArn": ")" +
      kDeviceArn + R"(",
      "CertificateArn": "arn:aws:iot:us-east-1:123456789012:cert/bbbb", "SyncShadow": false,
      "CertificateFingerprintSha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]},
  "FunctionDefinitionVersion": {
    "DefaultConfig": {"Execution": {"IsolationMode": "NoContainer", "RunAs": {"Uid": 1000, "Gid": 1000}}},
    "Functions": [
      {"Id": "hello", "FunctionArn": ")" +
      kHelloArn + R"(",
       "FunctionConfiguration": {"EncodingType": "json", "Executable": "greengrassHelloWorld.function_handler",
         "MemorySize": 16384, "Pinned": true, "Timeout": 3,
         "Environment": {"Variables": {"GREETING": "hi"}, "AccessSysfs": false,
           "Execution": {"IsolationMode": "GreengrassContainer"},
           "ResourceAccessPolicies": [{"ResourceId": "tmp-vol", "Permission": "rw"}]}}},
      {"Id": "echo", "FunctionArn": ")" +
      kEchoArn + R"(",
       "FunctionConfiguration": {"EncodingType": "binary", "Executable": "echo", "ExecArgs": "-v",
         "FunctionRuntimeOverride": "python3.8", "Pinned": false, "Timeout": 10}},
      {"Id": "spooler", "FunctionArn": "arn:aws:lambda:::function:GGCloudSpooler:1",
       "FunctionConfiguration": {"Executable": "spooler", "Environment": {"Variables":
         {"GG_CONFIG_STORAGE_TYPE": "FileSystem"}}}}
    ]},
  "ResourceDefinitionVersion": {"Resources": [
    {"Id": "tmp-vol", "Name": "TmpVolume", "ResourceDataContainer": {"LocalVolumeResourceData":
      {"SourcePath": "/tmp/gg", "DestinationPath": "/data", "GroupOwnerSetting": {"AutoAddGroupOwner": true}}}},
    {"Id": "gpio", "Name": "Gpio", "ResourceDataContainer": {"LocalDeviceResourceData":
      {"SourcePath": "/dev/gpiomem", "GroupOwnerSetting": {"AutoAddGroupOwner": false, "GroupOwner": "gpio"}}}},
    {"Id": "model", "Name": "Model", "ResourceDataContainer": {"S3MachineLearningModelResourceData":
      {"DestinationPath": "/ml", "S3Uri": "s3://bucket/model.tar.gz",
       "OwnerSetting": {"GroupOwner": "ml", "GroupPermission": "ro"}}}},
    {"Id": "sm", "Name": "SmModel", "ResourceDataContainer": {"SageMakerMachineLearningModelResourceData":
      {"DestinationPath": "/sm", "SageMakerJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}}},
    {"Id": "secret", "Name": "Secret", "ResourceDataContainer": {"SecretsManagerSecretResourceData":
      {"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:greengrass-x-AbCdEf",
       "AdditionalStagingLabelsToDownload": ["Label1"]}}}
  ]},
  "LoggerDefinitionVersion": {"Loggers": [
    {"Id": "sys", "Component": "GreengrassSystem", "Level": "INFO", "Space": 128, "Type": "FileSystem"},
    {"Id": "lambda", "Component": "Lambda", "Level": "DEBUG", "Type": "AWSCloudWatch"}]},
  "ConnectorDefinitionVersion": {"Connectors": [{"Id": "sns", "ConnectorArn": ")" +
      kConnArn + R"(",
      "Parameters": {"DefaultSNSArn": "arn:aws:sns:us-east-1:123456789012:topic"}}]},
  "SubscriptionDefinitionVersion": {
    "Arn": "arn:aws:greengrass:us-east-1:123456789012:/greengrass/definition/subscriptions/abc/versions/def",
    "CreationTimestamp": "2020-01-01T00:00:00.000Z", "Id": "abc", "Version": "def",
    "Definition": {"Subscriptions": [
      {"Id": "hello-to-cloud", "Source": ")" +
      kHelloArn + R"(", "Subject": "hello/world", "Target": "cloud"},
      {"Id": "device-to-echo", "Source": ")" +
      kDeviceArn + R"(", "Subject": "devices/+/telemetry", "Target": ")" + kEchoArn + R"("},
      {"Id": "echo-to-device", "Source": ")" +
      kEchoArn + R"(", "Subject": "echo/#", "Target": ")" + kDeviceArn + R"("},
      {"Id": "cloud-to-device", "Source": "cloud", "Subject": "commands/HelloDevice/#", "Target": ")" +
      kDeviceArn + R"("},
      {"Id": "shadow-in", "Source": ")" +
      kDeviceArn +
      R"(", "Subject": "$aws/things/HelloDevice/shadow/#", "Target": "GGShadowService"},
      {"Id": "shadow-out", "Source": "GGShadowService", "Subject": "$aws/things/HelloDevice/shadow/#", "Target": ")" +
      kDeviceArn + R"("},
      {"Id": "to-connector", "Source": ")" +
      kHelloArn + R"(", "Subject": "sns/message", "Target": ")" + kConnArn + R"("}
    ]}}
})");
}

std::string errorOf(const json& j, const GroupLimits& lim = {}) {
  auto r = parseGroup(j, lim);
  EXPECT_FALSE(r.isOk());
  return r.isOk() ? "" : r.status().message();
}

json minimalWithSub(const std::string& source, const std::string& subject,
                    const std::string& target) {
  json j = realGroup();
  j["SubscriptionDefinitionVersion"] = {
      {"Subscriptions",
       {{{"Id", "sub-3"}, {"Source", source}, {"Subject", subject}, {"Target", target}}}}};
  return j;
}

TEST(GroupTest, RealDeploymentParses) {
  auto r = parseGroup(realGroup());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const Group& g = *r;
  ASSERT_NE(g.core(), nullptr);
  EXPECT_EQ(g.core()->thing_name, "MyCore");
  ASSERT_EQ(g.devices.size(), 1u);
  EXPECT_EQ(g.devices[0].thing_name, "HelloDevice");
  EXPECT_EQ(
      g.findThingByFingerprint("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
      &g.devices[0]);
  EXPECT_EQ(g.findThingByFingerprint("00"), nullptr);
  EXPECT_EQ(g.findThingByName("MyCore"), &g.cores[0]);
  ASSERT_EQ(g.functions.size(), 3u);
  const Function* hello = g.findFunction(kHelloArn);
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->parsed.name, "HelloWorld");
  EXPECT_EQ(hello->parsed.qualifier, "1");
  EXPECT_EQ(hello->parsed.region, "us-east-1");
  EXPECT_EQ(*hello->configuration->memory_size_kb, 16384);
  EXPECT_TRUE(*hello->configuration->pinned);
  EXPECT_EQ(hello->configuration->environment->resource_access_policies->at(0).resource_id,
            "tmp-vol");
  EXPECT_EQ(*g.function_default_execution->isolation_mode, "NoContainer");
  EXPECT_EQ(*g.function_default_execution->run_as->uid, 1000);
  ASSERT_EQ(g.resources.size(), 5u);
  EXPECT_EQ(g.resources[0].kind, Resource::Kind::kLocalVolume);
  EXPECT_EQ(g.resources[4].kind, Resource::Kind::kSecret);
  EXPECT_EQ(g.loggers.size(), 2u);
  EXPECT_EQ(g.connectors[0].parsed.name, "SNSConnector");
  ASSERT_EQ(g.subscriptions.size(), 7u);
  EXPECT_EQ(g.subscriptions[0].source_endpoint, Endpoint::function(kHelloArn));
  EXPECT_EQ(g.subscriptions[0].target_endpoint, Endpoint::cloud());
  EXPECT_EQ(g.subscriptions[1].source_endpoint, Endpoint::thing("HelloDevice"));
  EXPECT_EQ(g.subscriptions[4].target_endpoint, Endpoint::shadow());
  EXPECT_EQ(g.subscriptions[6].target_endpoint, Endpoint::connector(kConnArn));
}

TEST(GroupTest, RoundTrip) {
  auto r = parseGroup(realGroup());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  json out = toJson(*r);
  // Same as the input once the response wrapper is unwrapped.
  json expected = realGroup();
  expected["SubscriptionDefinitionVersion"] =
      expected["SubscriptionDefinitionVersion"]["Definition"];
  EXPECT_EQ(out, expected) << out.dump(2);
  auto again = parseGroup(out);
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ(toJson(*again), out);
}

TEST(GroupTest, EmptyGroupIsValid) {
  auto r = parseGroup(json::object());
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->core(), nullptr);
  EXPECT_TRUE(r->subscriptions.empty());
  EXPECT_EQ(toJson(*r), json::object());
}

TEST(GroupTest, ExactMessagesFromTheBrief) {
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "#/a", kDeviceArn)),
            "Subscriptions[Id=sub-3].Subject: '#/a' is not a valid topic filter: '#' must be the "
            "last topic level");
  json j = realGroup();
  j["FunctionDefinitionVersion"]["Functions"][0]["FunctionArn"] =
      "arn:aws:lambda:us-east-1:123456789012:function:HelloWorld:$LATEST";
  EXPECT_EQ(errorOf(j),
            "Functions[Id=hello].FunctionArn: version qualifier required, '$LATEST' is not "
            "allowed");
}

struct BadCase {
  const char* pointer;
  json value;
  const char* message;
};

TEST(GroupTest, OneBadFilePerRule) {
  const std::string long_subject(257, 'a');
  const BadCase cases[] = {
      // Ids.
      {"/SubscriptionDefinitionVersion/Definition/Subscriptions/1/Id", "bad id!",
       "Subscriptions[1].Id: \"bad id!\" is not a valid Id: 1-128 characters of [a-zA-Z0-9:_-]"},
      {"/SubscriptionDefinitionVersion/Definition/Subscriptions/1/Id", std::string(129, 'x'),
       nullptr},
      {"/SubscriptionDefinitionVersion/Definition/Subscriptions/1/Id", "hello-to-cloud",
       "Subscriptions[Id=hello-to-cloud].Id: duplicate Id"},
      {"/DeviceDefinitionVersion/Devices/0/Id", json(), "Devices[0].Id: expected string, got null"},
      // ARNs.
      {"/DeviceDefinitionVersion/Devices/0/ThingArn", "arn:aws:iot:us-east-1:123456789012:thing/",
       "Devices[Id=dev-1].ThingArn: 'arn:aws:iot:us-east-1:123456789012:thing/': thing name must "
       "be 1-128 characters of [a-zA-Z0-9:_-]"},
      {"/FunctionDefinitionVersion/Functions/1/FunctionArn",
       "arn:aws:lambda:us-east-1:123456789012:function:Echo",
       "Functions[Id=echo].FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:Echo': "
       "version qualifier required (':<version>' or ':<alias>')"},
      {"/ConnectorDefinitionVersion/Connectors/0/ConnectorArn",
       "arn:aws:greengrass:us-east-1::/connectors/SNS",
       "Connectors[Id=sns].ConnectorArn: 'arn:aws:greengrass:us-east-1::/connectors/SNS' is not "
       "a connector ARN (arn:aws:greengrass:<region>::/connectors/<name>/versions/<n>)"},
      // Schema values.
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/EncodingType", "xml",
       "Functions[Id=hello].FunctionConfiguration.EncodingType: expected \"json\" or \"binary\", "
       "got \"xml\""},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Environment/Execution/"
       "IsolationMode",
       "Docker",
       "Functions[Id=hello].FunctionConfiguration.Environment.Execution.IsolationMode: expected "
       "\"GreengrassContainer\" or \"NoContainer\", got \"Docker\""},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Environment/"
       "ResourceAccessPolicies/0/Permission",
       "rx",
       "Functions[Id=hello].FunctionConfiguration.Environment.ResourceAccessPolicies[0]."
       "Permission: expected \"ro\" or \"rw\", got \"rx\""},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Environment/"
       "ResourceAccessPolicies/0/ResourceId",
       "nope",
       "Functions[Id=hello].FunctionConfiguration.Environment.ResourceAccessPolicies[0]."
       "ResourceId: resource 'nope' is not in Resources"},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Environment/Variables/X", 5,
       "Functions[Id=hello].FunctionConfiguration.Environment.Variables.X: expected string, got "
       "5"},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/MemorySize", "16MB",
       "Functions[Id=hello].FunctionConfiguration.MemorySize: expected integer >= 1, got "
       "\"16MB\""},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Timeout", 0,
       "Functions[Id=hello].FunctionConfiguration.Timeout: expected integer >= 1, got 0"},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Pinned", "true",
       "Functions[Id=hello].FunctionConfiguration.Pinned: expected true or false, got \"true\""},
      {"/FunctionDefinitionVersion/DefaultConfig/Execution/RunAs/Uid", -1,
       "DefaultConfig.Execution.RunAs.Uid: expected integer >= 0, got -1"},
      {"/FunctionDefinitionVersion/Functions/0/FunctionConfiguration/Tiemout", 3,
       "Functions[Id=hello].FunctionConfiguration.Tiemout: unknown field"},
      {"/FunctionDefinitionVersion/Extra", 1, "FunctionDefinitionVersion.Extra: unknown field"},
      {"/DeviceDefinitionVersion/Devices/0/CertificateFingerprintSha256", "ABCDEF",
       "Devices[Id=dev-1].CertificateFingerprintSha256: expected 64 lowercase hex characters "
       "(SHA-256 of the DER certificate), got \"ABCDEF\""},
      {"/DeviceDefinitionVersion/Devices/0/CertificateArn", json(),
       "Devices[Id=dev-1].CertificateArn: expected string, got null"},
      {"/ResourceDefinitionVersion/Resources/1/ResourceDataContainer/LocalDeviceResourceData/"
       "SourcePath",
       "/tmp/x",
       "Resources[Id=gpio].ResourceDataContainer.LocalDeviceResourceData.SourcePath: expected a "
       "path under /dev/, got \"/tmp/x\""},
      {"/ResourceDefinitionVersion/Resources/1/ResourceDataContainer/LocalDeviceResourceData/"
       "SourcePath",
       "/dev/../etc/shadow",
       "Resources[Id=gpio].ResourceDataContainer.LocalDeviceResourceData.SourcePath: expected a "
       "path under /dev/, got \"/dev/../etc/shadow\""},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "SourcePath",
       "/",
       "Resources[Id=tmp-vol].ResourceDataContainer.LocalVolumeResourceData.SourcePath: \"/\" "
       "is not allowed: the whole root file system cannot be a volume resource"},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "SourcePath",
       "/proc", nullptr},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "SourcePath",
       "/sys/class/gpio",
       "Resources[Id=tmp-vol].ResourceDataContainer.LocalVolumeResourceData.SourcePath: "
       "\"/sys/class/gpio\" is not allowed: paths under /sys cannot be volume resources (v1 "
       "rule)"},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "SourcePath",
       "/srv/../dev/shm", nullptr},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "SourcePath",
       "/var/", nullptr},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer/LocalVolumeResourceData/"
       "DestinationPath",
       "data",
       "Resources[Id=tmp-vol].ResourceDataContainer.LocalVolumeResourceData.DestinationPath: "
       "expected an absolute path, got \"data\""},
      {"/ResourceDefinitionVersion/Resources/0/ResourceDataContainer", json::object(),
       "Resources[Id=tmp-vol].ResourceDataContainer: expected one of LocalDeviceResourceData, "
       "LocalVolumeResourceData, S3MachineLearningModelResourceData, "
       "SageMakerMachineLearningModelResourceData, SecretsManagerSecretResourceData"},
      {"/ResourceDefinitionVersion/Resources/2/ResourceDataContainer/S3MachineLearningModel"
       "ResourceData/OwnerSetting/GroupPermission",
       "x",
       "Resources[Id=model].ResourceDataContainer.S3MachineLearningModelResourceData."
       "OwnerSetting.GroupPermission: expected \"ro\" or \"rw\", got \"x\""},
      {"/ResourceDefinitionVersion/Resources/4/ResourceDataContainer/SecretsManagerSecret"
       "ResourceData/ARN",
       "my-secret",
       "Resources[Id=secret].ResourceDataContainer.SecretsManagerSecretResourceData.ARN: "
       "expected a Secrets Manager secret ARN, got \"my-secret\""},
      {"/LoggerDefinitionVersion/Loggers/0/Level", "VERBOSE",
       "Loggers[Id=sys].Level: expected one of \"DEBUG\", \"INFO\", \"WARN\", \"ERROR\", "
       "\"FATAL\", got \"VERBOSE\""},
      {"/LoggerDefinitionVersion/Loggers/0/Type", "Syslog",
       "Loggers[Id=sys].Type: expected \"FileSystem\" or \"AWSCloudWatch\", got \"Syslog\""},
      {"/ConnectorDefinitionVersion/Connectors/0/Parameters/N", 1,
       "Connectors[Id=sns].Parameters.N: expected string, got 1"},
      {"/CoreDefinitionVersion/Cores/1",
       {{"Id", "core-2"}, {"ThingArn", kDeviceArn}, {"CertificateArn", "c"}},
       "Cores: 2 entries exceed the limit of 1"},
      {"/SubscriptionDefinitionVersion/Definition", json::array(),
       "SubscriptionDefinitionVersion.Definition: expected object, got []"},
      {"/Bogus", json::object(), "Bogus: unknown field"},
  };
  for (const auto& c : cases) {
    json j = realGroup();
    j[json::json_pointer(c.pointer)] = c.value;
    if (c.message == nullptr) {
      EXPECT_FALSE(parseGroup(j).isOk()) << c.pointer;
    } else {
      EXPECT_EQ(errorOf(j), c.message) << c.pointer;
    }
  }
}

TEST(GroupTest, SubscriptionRules) {
  const std::string unknown_thing = "arn:aws:iot:us-east-1:123456789012:thing/Stranger";
  const std::string unknown_fn = "arn:aws:lambda:us-east-1:123456789012:function:Nope:1";
  EXPECT_EQ(
      errorOf(minimalWithSub(unknown_thing, "a", "cloud")),
      "Subscriptions[Id=sub-3].Source: thing '" + unknown_thing + "' is not in Devices or Cores");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a", unknown_fn)),
            "Subscriptions[Id=sub-3].Target: function '" + unknown_fn + "' is not in Functions");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a",
                                   "arn:aws:greengrass:us-east-1::/connectors/Other/versions/1")),
            "Subscriptions[Id=sub-3].Target: connector "
            "'arn:aws:greengrass:us-east-1::/connectors/Other/versions/1' is not in Connectors");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a",
                                   "arn:aws:lambda:us-east-1:123456789012:function:Echo:$LATEST")),
            "Subscriptions[Id=sub-3].Target: version qualifier required, '$LATEST' is not allowed");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a", "device1")),
            "Subscriptions[Id=sub-3].Target: 'device1' is not a thing ARN, Lambda function ARN, "
            "connector ARN, 'cloud' or 'GGShadowService'");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a", "cloud")),
            "Subscriptions[Id=sub-3].Target: Source and Target are both 'cloud'");
  EXPECT_EQ(
      errorOf(minimalWithSub("cloud", std::string(257, 'a'), kDeviceArn)),
      "Subscriptions[Id=sub-3].Subject: '" + std::string(257, 'a') + "' is longer than 256 bytes");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a/b/c/d/e/f/g/h/i", kDeviceArn)),
            "Subscriptions[Id=sub-3].Subject: 'a/b/c/d/e/f/g/h/i' has 8 '/' separators, more "
            "than 7");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "a+", kDeviceArn)),
            "Subscriptions[Id=sub-3].Subject: 'a+' is not a valid topic filter: '+' must occupy "
            "a whole topic level");
  EXPECT_EQ(errorOf(minimalWithSub("cloud", "", kDeviceArn)),
            "Subscriptions[Id=sub-3].Subject: '' is not a valid topic filter: topic filter is "
            "empty");
  // Wildcards and 7 separators are fine.
  EXPECT_TRUE(parseGroup(minimalWithSub("cloud", "a/+/c/d/e/f/g/#", kDeviceArn)).isOk());
}

TEST(GroupTest, Limits) {
  json subs = json::array();
  for (int i = 0; i < 4; ++i) {
    subs.push_back({{"Id", "s" + std::to_string(i)},
                    {"Source", "cloud"},
                    {"Subject", "t/" + std::to_string(i)},
                    {"Target", kDeviceArn}});
  }
  json j = realGroup();
  j["SubscriptionDefinitionVersion"] = {{"Subscriptions", subs}};
  GroupLimits lim;
  lim.max_cloud_source_subscriptions = 3;
  EXPECT_EQ(errorOf(j, lim), "Subscriptions[Id=s3]: more than 3 subscriptions with Source 'cloud'");
  lim = {};
  lim.max_subscriptions = 3;
  EXPECT_EQ(errorOf(j, lim), "Subscriptions: 4 entries exceed the limit of 3");
  lim = {};
  lim.max_functions = 2;
  EXPECT_EQ(errorOf(j, lim), "Functions: 3 entries exceed the limit of 2");
  lim = {};
  lim.max_devices = 0;
  EXPECT_EQ(errorOf(j, lim), "Devices: 1 entries exceed the limit of 0");
  // Defaults are the v1 quotas.
  GroupLimits d;
  EXPECT_EQ(d.max_subscriptions, 10000u);
  EXPECT_EQ(d.max_cloud_source_subscriptions, 50u);
  EXPECT_EQ(d.max_functions, 200u);
  EXPECT_EQ(d.max_devices, 2500u);
}

TEST(GroupTest, DuplicateThingsAndFingerprints) {
  json j = realGroup();
  json dev2 = j["DeviceDefinitionVersion"]["Devices"][0];
  dev2["Id"] = "dev-2";
  j["DeviceDefinitionVersion"]["Devices"].push_back(dev2);
  EXPECT_EQ(errorOf(j),
            std::string("Devices[Id=dev-2].ThingArn: thing '") + kDeviceArn + "' is listed twice");
  dev2["ThingArn"] = "arn:aws:iot:us-east-1:123456789012:thing/Other";
  j["DeviceDefinitionVersion"]["Devices"][1] = dev2;
  EXPECT_EQ(
      errorOf(j),
      "Devices[Id=dev-2].CertificateFingerprintSha256: same certificate as Devices[Id=dev-1]");
}

TEST(GroupTest, EndpointParsing) {
  EXPECT_EQ(*parseEndpoint("cloud"), Endpoint::cloud());
  EXPECT_EQ(*parseEndpoint("GGShadowService"), Endpoint::shadow());
  EXPECT_EQ(*parseEndpoint(kDeviceArn), Endpoint::thing("HelloDevice"));
  EXPECT_EQ(*parseEndpoint(kEchoArn), Endpoint::function(kEchoArn));
  EXPECT_FALSE(parseEndpoint("Cloud").isOk());
  EXPECT_EQ(Endpoint::thing("x").toString(), "thing:x");
  EXPECT_NE(EndpointHash()(Endpoint::thing("x")), EndpointHash()(Endpoint::function("x")));
}

TEST(GroupTest, LoadFile) {
  auto path = std::filesystem::temp_directory_path() /
              ("evg_group_test_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << realGroup().dump(2);
  auto r = loadGroupFile(path.string());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->subscriptions.size(), 7u);
  std::ofstream(path) << "{\"Bogus\": 1}";
  auto bad = loadGroupFile(path.string());
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), path.string() + ": Bogus: unknown field");
  std::filesystem::remove(path);
  EXPECT_EQ(loadGroupFile(path.string()).status().code(), Code::kIo);
}

TEST(GroupTest, LoadFileRefusesDuplicateKeysAndDeepNesting) {
  auto path = std::filesystem::temp_directory_path() /
              ("evg_group_dup_" + std::to_string(::getpid()) + ".json");
  std::string text = realGroup().dump(2);
  auto pos = text.find("\"Subject\"");
  ASSERT_NE(pos, std::string::npos);
  text.insert(pos, "\"Subject\": \"other/topic\",\n");
  std::ofstream(path) << text;
  auto dup = loadGroupFile(path.string());
  ASSERT_FALSE(dup.isOk());
  EXPECT_EQ(dup.status().code(), Code::kInvalid);
  EXPECT_NE(dup.status().message().find(": duplicate key \"Subject\" in object at "),
            std::string::npos)
      << dup.status().message();
  std::ofstream(path) << "{\"Subscriptions\":" + std::string(100000, '[');
  auto deep = loadGroupFile(path.string());
  ASSERT_FALSE(deep.isOk());
  EXPECT_NE(deep.status().message().find("nesting deeper than 64 levels"), std::string::npos)
      << deep.status().message();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace evg::group
