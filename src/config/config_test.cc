#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "config/arn.h"
#include "config/json_fields.h"

namespace evg::config {
namespace {

using nlohmann::json;

// A v1.11 config.json as the console generates it, with every optional field filled in.
const char* kRealV1Config = R"({
  "coreThing" : {
    "caPath" : "root.ca.pem",
    "certPath" : "abcd1234.cert.pem",
    "keyPath" : "abcd1234.private.key",
    "thingArn" : "arn:aws:iot:eu-west-1:123456789012:thing/MyCore_Core",
    "iotHost" : "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
    "ggHost" : "greengrass-ats.iot.eu-west-1.amazonaws.com",
    "iotMqttPort" : 443,
    "iotHttpPort" : 443,
    "ggHttpPort" : 443,
    "ggMqttPort" : 9883,
    "keepAlive" : 600,
    "networkProxy": {
      "noProxyAddresses" : "http://128.12.34.56,www.mywebsite.com",
      "proxy" : {
        "url" : "https://my-proxy-server:1100",
        "username" : "Mary_Major",
        "password" : "pass@word1357"
      }
    },
    "mqttOperationTimeout" : 10,
    "ggDaemonPort": 8001,
    "systemComponentAuthTimeout": 5000
  },
  "runtime" : {
    "maxWorkItemCount" : 2048,
    "maxConcurrentLimit" : 30,
    "lruSize" : 40,
    "allowFunctionsToRunAsRoot" : "yes",
    "mountAllBlockDevices" : "no",
    "postStartHealthCheckTimeout" : 40000,
    "cgroup" : {
      "useSystemd" : "no"
    }
  },
  "managedRespawn" : false,
  "crypto" : {
    "principals" : {
      "SecretsManager" : {
        "privateKeyPath" : "file:///greengrass/certs/abcd1234.private.key"
      },
      "IoTCertificate" : {
        "privateKeyPath" : "file:///greengrass/certs/abcd1234.private.key",
        "certificatePath" : "file:///greengrass/certs/abcd1234.cert.pem"
      },
      "MQTTServerCertificate" : {
        "privateKeyPath" : "file:///greengrass/certs/server%20key.pem"
      }
    },
    "caPath" : "file:///greengrass/certs/root.ca.pem"
  },
  "writeDirectory" : "/write/ggc",
  "mqttMaxConnectionRetryInterval" : 30,
  "system" : { "shadowSyncTimeout" : 10 }
})";

json minimal() {
  return json::parse(
      R"({"coreThing":{"thingArn":"arn:aws:iot:us-east-1:123456789012:thing/core1"}})");
}

std::string errorOf(const json& j) {
  auto r = parseConfig(j, "/gg");
  EXPECT_FALSE(r.isOk());
  return r.isOk() ? "" : r.status().message();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ConfigTest, RealV1ConfigLoadsUnchanged) {
  auto r = parseConfig(json::parse(kRealV1Config), "/greengrass");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const CoreConfig& c = *r;
  EXPECT_EQ(c.core_thing.thing_name, "MyCore_Core");
  EXPECT_EQ(c.core_thing.region, "eu-west-1");
  EXPECT_EQ(c.core_thing.account, "123456789012");
  EXPECT_EQ(c.core_thing.iot_host, "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com");
  EXPECT_EQ(c.core_thing.iot_mqtt_port, 443);
  EXPECT_EQ(c.core_thing.gg_mqtt_port, 9883);
  EXPECT_EQ(c.core_thing.gg_daemon_port, 8001);
  EXPECT_EQ(c.core_thing.mqtt_operation_timeout_s, 10);
  ASSERT_TRUE(c.core_thing.network_proxy.has_value());
  EXPECT_EQ(c.core_thing.network_proxy->url, "https://my-proxy-server:1100");
  EXPECT_EQ(c.core_thing.network_proxy->username, "Mary_Major");
  EXPECT_EQ(c.runtime.max_work_item_count, 2048);
  EXPECT_EQ(c.runtime.max_concurrent_limit, 30);
  EXPECT_EQ(c.runtime.lru_size, 40);
  EXPECT_TRUE(c.runtime.allow_functions_to_run_as_root);
  EXPECT_FALSE(c.runtime.cgroup_use_systemd);
  EXPECT_TRUE(c.crypto.from_crypto_block);
  EXPECT_EQ(c.crypto.ca_path, "/greengrass/certs/root.ca.pem");
  EXPECT_EQ(c.crypto.core_cert_path, "/greengrass/certs/abcd1234.cert.pem");
  EXPECT_EQ(c.crypto.core_key_path, "/greengrass/certs/abcd1234.private.key");
  EXPECT_EQ(c.crypto.mqtt_server_key_path, "/greengrass/certs/server key.pem");
  EXPECT_EQ(c.crypto.secrets_key_path, "/greengrass/certs/abcd1234.private.key");
  EXPECT_EQ(c.write_directory, "/write/ggc");
  EXPECT_EQ(c.mqtt_max_connection_retry_interval_s, 30);
  EXPECT_EQ(c.shadow_sync_timeout_s, 10);
  // Legacy key paths are ignored when crypto is present, and reported.
  EXPECT_TRUE(contains(c.unused_fields, "coreThing.caPath"));
  EXPECT_TRUE(contains(c.unused_fields, "coreThing.networkProxy"));
  EXPECT_TRUE(contains(c.unused_fields, "runtime.cgroup.useSystemd"));
  EXPECT_TRUE(contains(c.unused_fields, "managedRespawn"));
  EXPECT_FALSE(contains(c.unused_fields, "coreThing.thingArn"));
  EXPECT_FALSE(contains(c.unused_fields, "coreThing.ggMqttPort"));
  // Evergreen defaults when the block is absent.
  EXPECT_EQ(c.evergreen.mqtt.plaintext_port, 0);
  EXPECT_EQ(c.evergreen.mqtt.max_payload_bytes, 131072);
  EXPECT_FALSE(c.evergreen.mqtt.open_broker);
}

TEST(ConfigTest, MinimalUsesV1Defaults) {
  auto r = parseConfig(minimal(), "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->core_thing.gg_mqtt_port, 8883);
  EXPECT_EQ(r->core_thing.keep_alive_s, 600);
  EXPECT_EQ(r->core_thing.gg_daemon_port, 8000);
  EXPECT_EQ(r->core_thing.system_component_auth_timeout_ms, 5000);
  EXPECT_EQ(r->runtime.max_work_item_count, 1024);
  EXPECT_EQ(r->runtime.max_concurrent_limit, 25);
  EXPECT_EQ(r->runtime.lru_size, 25);
  EXPECT_FALSE(r->runtime.allow_functions_to_run_as_root);
  EXPECT_EQ(r->pid_file_directory, "/var/run");
  EXPECT_EQ(r->write_directory, "/gg");
  EXPECT_EQ(r->shadow_sync_timeout_s, 5);
  EXPECT_EQ(r->evergreen.mqtt.max_connections, 1024);
  EXPECT_EQ(r->evergreen.log.level, LogLevel::kInfo);
  EXPECT_TRUE(r->unused_fields.empty());
}

TEST(ConfigTest, LegacyPathsResolveAgainstRootCerts) {
  json j = minimal();
  j["coreThing"]["caPath"] = "root.ca.pem";
  j["coreThing"]["certPath"] = "x.cert.pem";
  j["coreThing"]["keyPath"] = "/abs/x.key";
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_FALSE(r->crypto.from_crypto_block);
  EXPECT_EQ(r->crypto.ca_path, "/gg/certs/root.ca.pem");
  EXPECT_EQ(r->crypto.core_cert_path, "/gg/certs/x.cert.pem");
  EXPECT_EQ(r->crypto.core_key_path, "/abs/x.key");
}

TEST(ConfigTest, RelativePathsResolveAgainstRoot) {
  json j = minimal();
  j["crypto"] = {{"caPath", "certs/ca.pem"}};
  j["writeDirectory"] = "var/write";
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->crypto.ca_path, "/gg/certs/ca.pem");
  EXPECT_EQ(r->write_directory, "/gg/var/write");
}

TEST(ConfigTest, ExactErrorStyle) {
  json j = minimal();
  j["coreThing"]["ggMqttPort"] = "abc";
  EXPECT_EQ(errorOf(j), "coreThing.ggMqttPort: expected integer 1024-65535, got \"abc\"");
  j["coreThing"]["ggMqttPort"] = 80;
  EXPECT_EQ(errorOf(j), "coreThing.ggMqttPort: expected integer 1024-65535, got 80");
  j["coreThing"]["ggMqttPort"] = 8883.5;
  EXPECT_EQ(errorOf(j), "coreThing.ggMqttPort: expected integer 1024-65535, got 8883.5");
}

struct BadCase {
  const char* pointer;  // JSON pointer into minimal()
  json value;
  const char* message;
};

TEST(ConfigTest, EachKindOfBadValue) {
  const BadCase cases[] = {
      {"/coreThing/keepAlive", 10, "coreThing.keepAlive: expected integer 30-1200, got 10"},
      {"/coreThing/keepAlive", true, "coreThing.keepAlive: expected integer 30-1200, got true"},
      {"/coreThing/iotMqttPort", 1883, "coreThing.iotMqttPort: expected 8883 or 443, got 1883"},
      {"/coreThing/iotHttpPort", "443", "coreThing.iotHttpPort: expected 8443 or 443, got \"443\""},
      {"/coreThing/ggDaemonPort", 70000,
       "coreThing.ggDaemonPort: expected integer 1024-65535, got 70000"},
      {"/coreThing/mqttOperationTimeout", 4,
       "coreThing.mqttOperationTimeout: expected integer >= 5, got 4"},
      {"/coreThing/systemComponentAuthTimeout", 100,
       "coreThing.systemComponentAuthTimeout: expected integer 500-5000, got 100"},
      {"/coreThing/thingArn", "arn:aws:iot:us-east-1:123:thing/x",
       "coreThing.thingArn: 'arn:aws:iot:us-east-1:123:thing/x': account must be 12 digits, got "
       "'123'"},
      {"/coreThing/thingArn", "core1",
       "coreThing.thingArn: 'core1' is not a thing ARN "
       "(arn:aws:iot:<region>:<account>:thing/<name>)"},
      {"/coreThing/iotHost", 5, "coreThing.iotHost: expected string, got 5"},
      {"/coreThing/networkProxy",
       {{"proxy", {{"url", "ftp://x"}}}},
       "coreThing.networkProxy.proxy.url: expected an http:// or https:// URL, got \"ftp://x\""},
      {"/coreThing/networkProxy", json::object(),
       "coreThing.networkProxy.proxy: required field missing"},
      {"/runtime", 5, "runtime: expected object, got 5"},
      {"/runtime/maxWorkItemCount", 0, "runtime.maxWorkItemCount: expected integer >= 1, got 0"},
      {"/runtime/allowFunctionsToRunAsRoot", true,
       "runtime.allowFunctionsToRunAsRoot: expected \"yes\" or \"no\", got true"},
      {"/runtime/cgroup/useSystemd", "maybe",
       "runtime.cgroup.useSystemd: expected \"yes\" or \"no\", got \"maybe\""},
      {"/managedRespawn", "false", "managedRespawn: expected true or false, got \"false\""},
      {"/system/shadowSyncTimeout", 0, "system.shadowSyncTimeout: expected integer >= 1, got 0"},
      {"/crypto/caPath", "http://x/ca.pem",
       "crypto.caPath: expected a file:// URI or a path, got \"http://x/ca.pem\""},
      {"/crypto/caPath", "file://host/ca.pem",
       "crypto.caPath: file URI must be file:///absolute/path, got \"file://host/ca.pem\""},
      {"/crypto/principals/IoTCertificate",
       {{"privateKeyPath", "file:///k"}},
       "crypto.principals.IoTCertificate.certificatePath: required field missing"},
      {"/evergreen/mqtt/plaintextPort", -1,
       "evergreen.mqtt.plaintextPort: expected integer 0-65535, got -1"},
      {"/evergreen/deployments/maxHistory", 0,
       "evergreen.deployments.maxHistory: expected integer 1-10000, got 0"},
      {"/evergreen/deployments/keep", 3, "evergreen.deployments.keep: unknown field"},
      {"/evergreen/mqtt/bindAddress", "localhost",
       "evergreen.mqtt.bindAddress: expected an IPv4 or IPv6 address, got \"localhost\""},
      {"/evergreen/mqtt/openBroker", 1, "evergreen.mqtt.openBroker: expected true or false, got 1"},
      {"/evergreen/mqtt/denyList", json::array({"a/b", "#/a"}),
       "evergreen.mqtt.denyList[1]: '#/a' is not a valid topic filter: '#' must be the last "
       "topic level"},
      {"/evergreen/mqtt/denyList", json::array({7}),
       "evergreen.mqtt.denyList[0]: expected string, got 7"},
      {"/evergreen/mqtt/maxConnections", 0,
       "evergreen.mqtt.maxConnections: expected integer 1-1000000, got 0"},
      {"/evergreen/mqtt/maxPayloadBytes", 300000000,
       "evergreen.mqtt.maxPayloadBytes: expected integer 1-268435455, got 300000000"},
      {"/evergreen/mqtt/maxConection", 5, "evergreen.mqtt.maxConection: unknown field"},
      {"/evergreen/log/level", "LOUD",
       "evergreen.log.level: expected one of \"TRACE\", \"DEBUG\", \"INFO\", \"WARN\", "
       "\"ERROR\", \"FATAL\", got \"LOUD\""},
      {"/evergreen/log/keepFiles", 1000,
       "evergreen.log.keepFiles: expected integer 0-100, got 1000"},
      {"/evergreen/log/maxFileBytes", 10,
       "evergreen.log.maxFileBytes: expected integer >= 1024, got 10"},
      {"/evergreen/cloud/port", "x", "evergreen.cloud.port: expected integer 0-65535, got \"x\""},
      {"/evergreen/cloud/maxSizeBytes", 1000,
       "evergreen.cloud.maxSizeBytes: expected integer >= 262144, got 1000"},
      {"/evergreen/cloud/storageType", "Disk",
       "evergreen.cloud.storageType: expected \"Memory\" or \"FileSystem\", got \"Disk\""},
      {"/evergreen/cloud/maxInflight", 0,
       "evergreen.cloud.maxInflight: expected integer 1-65535, got 0"},
      {"/evergreen/cloud/subscriptionQuality", "AtLeastOnce",
       "evergreen.cloud.subscriptionQuality: expected \"AtMostOnce\" or "
       "\"AtLeastOncePersistent\", got \"AtLeastOnce\""},
      {"/evergreen/cloud/enabled", true,
       "evergreen.cloud.enabled: cloud is enabled but neither evergreen.cloud.host nor "
       "coreThing.iotHost is set"},
      {"/evergreen/runtime/containerLimitsMandatory", "yes",
       "evergreen.runtime.containerLimitsMandatory: expected true or false, got \"yes\""},
      {"/evergreen/runtime/containerTmpSizeMb", 0,
       "evergreen.runtime.containerTmpSizeMb: expected integer 1-65536, got 0"},
      {"/evergreen/extra", 1, "evergreen.extra: unknown field"},
  };
  for (const auto& c : cases) {
    json j = minimal();
    j[json::json_pointer(c.pointer)] = c.value;
    EXPECT_EQ(errorOf(j), c.message) << c.pointer;
  }
}

TEST(ConfigTest, MissingCoreThingAndThingArn) {
  EXPECT_EQ(errorOf(json::object()), "coreThing: required field missing");
  EXPECT_EQ(errorOf(json::parse(R"({"coreThing":{}})")),
            "coreThing.thingArn: required field missing");
  EXPECT_EQ(errorOf(json::array()), "(root): expected object, got []");
}

TEST(ConfigTest, Pkcs11UriIsUnsupportedNamingThePath) {
  json j = minimal();
  j["crypto"]["principals"]["IoTCertificate"] = {
      {"privateKeyPath", "pkcs11:object=core-key;type=private"},
      {"certificatePath", "file:///gg/certs/core.pem"}};
  auto r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_EQ(
      r.status().message().rfind("crypto.principals.IoTCertificate.privateKeyPath: pkcs11:", 0), 0u)
      << r.status().message();
}

TEST(ConfigTest, UnknownFieldsAreReportedNotRefused) {
  json j = minimal();
  j["someFutureKey"] = {{"a", 1}};
  j["coreThing"]["weird"] = true;
  j["runtime"]["cgroup"]["other"] = 1;
  j["crypto"]["PKCS11"] = {{"P11Provider", "/lib/p11.so"}, {"slotLabel", "x"}};
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(contains(r->unused_fields, "someFutureKey"));
  EXPECT_TRUE(contains(r->unused_fields, "coreThing.weird"));
  EXPECT_TRUE(contains(r->unused_fields, "runtime.cgroup.other"));
  EXPECT_TRUE(contains(r->unused_fields, "crypto.PKCS11"));
}

TEST(ConfigTest, EvergreenBlock) {
  json j = minimal();
  j["evergreen"] = json::parse(R"({
    "mqtt": {"plaintextPort": 1883, "bindAddress": "::", "openBroker": true,
             "denyList": ["$aws/#", "secret/+"], "maxConnections": 10, "maxPayloadBytes": 1024,
             "maxQueuedPerClient": 5, "maxInflightPerClient": 2, "maxSubscriptionsPerClient": 3,
             "maxRetained": 0},
    "log": {"level": "debug", "maxFileBytes": 4096, "keepFiles": 3, "stderr": false},
    "cloud": {"enabled": true, "plaintext": true, "host": "127.0.0.1", "port": 1884}
  })");
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto& m = r->evergreen.mqtt;
  EXPECT_EQ(m.plaintext_port, 1883);
  EXPECT_EQ(m.bind_address, "::");
  EXPECT_TRUE(m.open_broker);
  EXPECT_EQ(m.deny_list, (std::vector<std::string>{"$aws/#", "secret/+"}));
  EXPECT_EQ(m.max_connections, 10);
  EXPECT_EQ(m.max_payload_bytes, 1024);
  EXPECT_EQ(m.max_queued_per_client, 5);
  EXPECT_EQ(m.max_inflight_per_client, 2);
  EXPECT_EQ(m.max_subscriptions_per_client, 3);
  EXPECT_EQ(m.max_retained, 0);
  EXPECT_EQ(r->evergreen.log.level, LogLevel::kDebug);
  EXPECT_EQ(r->evergreen.log.max_file_bytes, 4096);
  EXPECT_EQ(r->evergreen.log.keep_files, 3);
  EXPECT_FALSE(r->evergreen.log.to_stderr);
  EXPECT_TRUE(r->evergreen.cloud.enabled);
  EXPECT_EQ(r->evergreen.cloud.port, 1884);
}

TEST(ConfigTest, MqttInputCoalescing) {
  json j = minimal();
  auto d = parseConfig(j, "/gg");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->evergreen.mqtt.coalesce_input_micros, 30);  // on by default
  EXPECT_EQ(d->evergreen.mqtt.coalesce_after_wakeups, 8);
  j["evergreen"] =
      json::parse(R"({"mqtt": {"coalesceInputMicros": 0, "coalesceAfterWakeups": 3}})");
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.mqtt.coalesce_input_micros, 0);  // off
  EXPECT_EQ(r->evergreen.mqtt.coalesce_after_wakeups, 3);
  j["evergreen"] = json::parse(R"({"mqtt": {"coalesceInputMicros": 20000}})");
  r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("evergreen.mqtt.coalesceInputMicros"), std::string::npos)
      << r.status().message();
  j["evergreen"] = json::parse(R"({"mqtt": {"coalesceAfterWakeups": 0}})");
  EXPECT_FALSE(parseConfig(j, "/gg").isOk());
}

TEST(ConfigTest, MetricsBlockIsLoopbackOnly) {
  json j = minimal();
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->evergreen.metrics.port, 0);  // off by default
  j["evergreen"] = json::parse(R"({"metrics": {"port": 9100, "bindAddress": "::1",
                                               "maxConnections": 4}})");
  r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.metrics.port, 9100);
  EXPECT_EQ(r->evergreen.metrics.bind_address, "::1");
  EXPECT_EQ(r->evergreen.metrics.max_connections, 4);
  j["evergreen"] = json::parse(R"({"metrics": {"port": 9100, "bindAddress": "0.0.0.0"}})");
  r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("evergreen.metrics.bindAddress: expected a loopback"),
            std::string::npos)
      << r.status().message();
  j["evergreen"] = json::parse(R"({"metrics": {"port": 70000}})");
  EXPECT_FALSE(parseConfig(j, "/gg").isOk());
}

TEST(ConfigTest, EvergreenFunctionStoreBounds) {
  json j = minimal();
  auto d = parseConfig(j, "/gg");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->evergreen.functions.max_unpacked_bytes, 268435456);
  EXPECT_EQ(d->evergreen.functions.max_entries, 65536);
  j["evergreen"] = json::parse(
      R"({"functions": {"maxZipBytes": 1000, "maxUnpackedBytes": 2000, "maxEntries": 3}})");
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.functions.max_zip_bytes, 1000);
  EXPECT_EQ(r->evergreen.functions.max_unpacked_bytes, 2000);
  EXPECT_EQ(r->evergreen.functions.max_entries, 3);
  j["evergreen"] = json::parse(R"({"functions": {"maxEntries": 0}})");
  EXPECT_NE(errorOf(j).find("evergreen.functions.maxEntries"), std::string::npos);
  j["evergreen"] = json::parse(R"({"functions": {"maxEntry": 5}})");
  EXPECT_NE(errorOf(j).find("evergreen.functions.maxEntry: unknown field"), std::string::npos)
      << errorOf(j);
}

TEST(ConfigTest, EvergreenTesBlock) {
  json j = minimal();
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->evergreen.tes.credentials_endpoint.empty());  // off by default
  EXPECT_EQ(r->evergreen.tes.refresh_margin_s, 900);
  j["evergreen"]["tes"] =
      json::parse(R"({"credentialsEndpoint": "c2x.credentials.iot.us-east-1.amazonaws.com",
    "roleAlias": "GreengrassCoreTokenExchangeRoleAlias", "refreshMarginSeconds": 600,
    "requestTimeoutMs": 2000, "retryInitialMs": 100, "retryMaxMs": 500, "serveWaitMs": 0,
    "maxWaiting": 8})");
  r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto& t = r->evergreen.tes;
  EXPECT_EQ(t.credentials_endpoint, "c2x.credentials.iot.us-east-1.amazonaws.com");
  EXPECT_EQ(t.role_alias, "GreengrassCoreTokenExchangeRoleAlias");
  EXPECT_EQ(t.refresh_margin_s, 600);
  EXPECT_EQ(t.request_timeout_ms, 2000);
  EXPECT_EQ(t.retry_initial_ms, 100);
  EXPECT_EQ(t.retry_max_ms, 500);
  EXPECT_EQ(t.serve_wait_ms, 0);
  EXPECT_EQ(t.max_waiting, 8);
  auto bad = [&](const char* tes, const char* expect) {
    json k = minimal();
    k["evergreen"]["tes"] = json::parse(tes);
    auto b = parseConfig(k, "/gg");
    ASSERT_FALSE(b.isOk()) << tes;
    EXPECT_NE(b.status().message().find(expect), std::string::npos) << b.status().message();
  };
  bad(R"({"credentialsEndpoint": "x.example.com"})",
      "evergreen.tes.roleAlias: credentialsEndpoint and roleAlias must be set together");
  bad(R"({"credentialsEndpoint": "x", "roleAlias": "bad alias"})", "evergreen.tes.roleAlias");
  bad(R"({"refreshMarginSeconds": 60})", "evergreen.tes.refreshMarginSeconds");
  bad(R"({"retryInitialMs": 1000, "retryMaxMs": 100})", "evergreen.tes.retryMaxMs");
  bad(R"({"roleAlias2": "x"})", "evergreen.tes.roleAlias2: unknown field");
}

TEST(ConfigTest, RuntimeInterpretersAndRestartOnDeploy) {
  json j = minimal();
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->evergreen.runtime.interpreters.empty());
  EXPECT_FALSE(r->evergreen.runtime.restart_functions_on_deploy);
  j["evergreen"] = json::parse(R"({"runtime": {"restartFunctionsOnDeploy": true,
    "interpreters": {"python3.7": "/opt/py37/bin/python3.7"}}})");
  r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->evergreen.runtime.restart_functions_on_deploy);
  EXPECT_EQ(r->evergreen.runtime.interpreters.at("python3.7"), "/opt/py37/bin/python3.7");
  j["evergreen"]["runtime"]["interpreters"]["python3.8"] = "python3.8";  // not absolute
  r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("evergreen.runtime.interpreters.python3.8"),
            std::string::npos)
      << r.status().message();
}

TEST(ConfigTest, RuntimeTrimStartupPages) {
  json j = minimal();
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->evergreen.runtime.trim_startup_pages);  // on by default
  j["evergreen"] = json::parse(R"({"runtime": {"trimStartupPages": false}})");
  r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_FALSE(r->evergreen.runtime.trim_startup_pages);
  j["evergreen"] = json::parse(R"({"runtime": {"trimStartupPages": "yes"}})");
  r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("evergreen.runtime.trimStartupPages"), std::string::npos)
      << r.status().message();
}

TEST(ConfigTest, RuntimeTrimIdlePagesSeconds) {
  json j = minimal();
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->evergreen.runtime.trim_idle_pages_seconds, 30);  // default
  j["evergreen"] = json::parse(R"({"runtime": {"trimIdlePagesSeconds": 0}})");
  r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.runtime.trim_idle_pages_seconds, 0);
  j["evergreen"] = json::parse(R"({"runtime": {"trimIdlePagesSeconds": -1}})");
  r = parseConfig(j, "/gg");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("evergreen.runtime.trimIdlePagesSeconds"), std::string::npos)
      << r.status().message();
}

TEST(ConfigTest, DefaultConfigJsonIsValid) {
  DefaultConfigOptions o;
  o.thing_name = "dev-core";
  o.plaintext_port = 1883;
  auto r = parseConfig(defaultConfigJson(o), "/root");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->core_thing.thing_name, "dev-core");
  EXPECT_EQ(r->crypto.core_cert_path, "/root/certs/core.cert.pem");
  EXPECT_EQ(r->crypto.mqtt_server_key_path, "/root/certs/server.private.key");
  EXPECT_EQ(r->evergreen.mqtt.plaintext_port, 1883);
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("evg_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "config");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& text) {
    auto p = dir_ / "config" / "config.json";
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, LoadsAndDerivesRootFromConfigDir) {
  auto r = loadConfigFile(write(defaultConfigJson().dump(2)));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->root_dir, dir_.string());
  EXPECT_EQ(r->crypto.ca_path, (dir_ / "certs" / "root.ca.pem").string());
}

TEST_F(ConfigFileTest, SyntaxErrorNamesFileAndLine) {
  std::string path = write("{\n  \"coreThing\": {,\n}");
  auto r = loadConfigFile(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find(path + ": parse error at line 2"), std::string::npos)
      << r.status().message();
}

TEST_F(ConfigFileTest, ValueErrorIsPrefixedWithFile) {
  json j = minimal();
  j["coreThing"]["keepAlive"] = 5;
  std::string path = write(j.dump());
  auto r = loadConfigFile(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(), path + ": coreThing.keepAlive: expected integer 30-1200, got 5");
}

TEST_F(ConfigFileTest, DuplicateKeyIsRefusedNamingIt) {
  std::string text = defaultConfigJson().dump(2);
  // A second ggMqttPort in coreThing: the DOM would silently keep the last one.
  auto pos = text.find("\"ggMqttPort\"");
  ASSERT_NE(pos, std::string::npos);
  text.insert(pos, "\"ggMqttPort\": 9999,\n    ");
  std::string path = write(text);
  auto r = loadConfigFile(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_EQ(r.status().message(), path + ": duplicate key \"ggMqttPort\" in object at coreThing");
}

TEST_F(ConfigFileTest, DeepNestingIsRefusedNotACrash) {
  std::string text = R"({"coreThing":)";
  for (int i = 0; i < 100000; ++i) text += "[";
  std::string path = write(text);
  auto r = loadConfigFile(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find(path + ": nesting deeper than 64 levels at coreThing"),
            std::string::npos)
      << r.status().message();
}

TEST(ConfigTest, StreamManagerBlock) {
  json j = minimal();
  j["evergreen"]["streamManager"] = {{"maxConnections", 8},
                                     {"maxFrameBytes", 4096},
                                     {"maxMessageBytes", 1000},
                                     {"maxReadTimeoutMs", 500},
                                     {"maxPendingReadsPerConnection", 2},
                                     {"maxStreams", 3},
                                     {"syncIntervalMs", 20}};
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto& sm = r->evergreen.stream_manager;
  EXPECT_EQ(sm.max_connections, 8);
  EXPECT_EQ(sm.max_frame_bytes, 4096);
  EXPECT_EQ(sm.max_message_bytes, 1000);
  EXPECT_EQ(sm.max_read_timeout_ms, 500);
  EXPECT_EQ(sm.max_pending_reads_per_connection, 2);
  EXPECT_EQ(sm.max_streams, 3);
  EXPECT_EQ(sm.sync_interval_ms, 20);
  j["evergreen"]["streamManager"] = {{"syncIntervalMs", 1}};
  EXPECT_EQ(errorOf(j),
            "evergreen.streamManager.syncIntervalMs: expected integer 10-3600000, got 1");
  j["evergreen"]["streamManager"] = {{"port", 1}};
  EXPECT_EQ(errorOf(j), "evergreen.streamManager.port: unknown field");
  auto d = parseConfig(minimal(), "/gg");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->evergreen.stream_manager.max_connections, 64);
}

TEST(ConfigTest, IpcBlock) {
  json j = minimal();
  j["evergreen"]["ipc"] = {{"maxConnections", 10},
                           {"maxConnectionsPerPeer", 4},
                           {"headerTimeoutMs", 500},
                           {"idleTimeoutMs", 1000},
                           {"bodyTimeoutMs", 2000}};
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.ipc.max_connections, 10);
  EXPECT_EQ(r->evergreen.ipc.max_connections_per_peer, 4);
  EXPECT_EQ(r->evergreen.ipc.header_timeout_ms, 500);
  EXPECT_EQ(r->evergreen.ipc.idle_timeout_ms, 1000);
  EXPECT_EQ(r->evergreen.ipc.body_timeout_ms, 2000);
  j["evergreen"]["ipc"]["headerTimeoutMs"] = 0;
  EXPECT_EQ(errorOf(j), "evergreen.ipc.headerTimeoutMs: expected integer 100-3600000, got 0");
  j["evergreen"]["ipc"] = {{"headerTimeout", 1}};
  EXPECT_EQ(errorOf(j), "evergreen.ipc.headerTimeout: unknown field");
  auto d = parseConfig(minimal(), "/gg");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->evergreen.ipc.header_timeout_ms, 10000);
  EXPECT_EQ(d->evergreen.ipc.max_connections, 1024);
}

TEST_F(ConfigFileTest, MissingFileIsIo) {
  auto r = loadConfigFile((dir_ / "nope.json").string());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kIo);
}

TEST(ArnTest, ThingLambdaConnector) {
  auto t = parseThingArn("arn:aws-cn:iot:cn-north-1:123456789012:thing/a:b_c-d");
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->name, "a:b_c-d");
  EXPECT_EQ(t->partition, "aws-cn");
  EXPECT_FALSE(thingNameFromArn("arn:aws:iot:us-east-1:123456789012:thing/").isOk());
  EXPECT_FALSE(thingNameFromArn("arn:aws:iot:us-east-1:123456789012:topic/x").isOk());

  auto l = parseLambdaArn("arn:aws:lambda:us-west-2:123456789012:function:Hello:PROD", true);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->name, "Hello");
  EXPECT_EQ(l->qualifier, "PROD");
  EXPECT_EQ(l->unqualified(), "arn:aws:lambda:us-west-2:123456789012:function:Hello");
  EXPECT_TRUE(parseLambdaArn("arn:aws:lambda:::function:GGRouter", false).isOk());
  EXPECT_TRUE(parseLambdaArn("arn:aws:lambda:::function:GGCloudSpooler:1", true).isOk());
  EXPECT_TRUE(parseLambdaArn("arn:aws:lambda:us-east-1:aws:function:GG-ML-INF-x-y:1", true).isOk());
  auto latest =
      parseLambdaArn("arn:aws:lambda:us-west-2:123456789012:function:Hello:$LATEST", true);
  ASSERT_FALSE(latest.isOk());
  EXPECT_EQ(latest.status().message(), "version qualifier required, '$LATEST' is not allowed");
  EXPECT_FALSE(parseLambdaArn("arn:aws:lambda:us-west-2:123456789012:function:Hello", true).isOk());
  EXPECT_TRUE(parseLambdaArn("arn:aws:lambda:us-west-2:123456789012:function:Hello", false).isOk());

  auto c =
      parseConnectorArn("arn:aws:greengrass:us-west-2::/connectors/TwilioNotifications/versions/4");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->name, "TwilioNotifications");
  EXPECT_EQ(c->version, "4");
  EXPECT_FALSE(parseConnectorArn("arn:aws:greengrass:us-west-2::/connectors/X/versions/").isOk());
  EXPECT_EQ(arnService("cloud"), ArnService::kNone);
  EXPECT_EQ(arnService("arn:aws:iot:r:a:thing/x"), ArnService::kIot);
}

}  // namespace
TEST(ConfigTest, CertsBlock) {
  json j = minimal();
  j["evergreen"] = json::parse(R"({"certs": {"importedServerCertUntil": "2027-03-01",
    "serverValidityDays": 30, "serverRenewBeforeDays": 7, "checkIntervalSeconds": 60}})");
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.certs.imported_server_cert_until, "2027-03-01");
  EXPECT_EQ(r->evergreen.certs.server_validity_days, 30);
  j["evergreen"] = json::parse(R"({"certs": {"importedServerCertUntil": "March 1st"}})");
  EXPECT_NE(errorOf(j).find("evergreen.certs.importedServerCertUntil: expected a date"),
            std::string::npos)
      << errorOf(j);
  j["evergreen"] =
      json::parse(R"({"certs": {"serverValidityDays": 30, "serverRenewBeforeDays": 30}})");
  EXPECT_NE(errorOf(j).find("evergreen.certs.serverRenewBeforeDays: must be less than"),
            std::string::npos)
      << errorOf(j);
}

}  // namespace evg::config

namespace evg::config {
namespace {

TEST(ConfigTest, StreamManagerExportKeys) {
  json j = minimal();
  j["evergreen"]["streamManager"] = {
      {"region", "eu-west-1"},
      {"endpoints", {{"kinesis", "http://127.0.0.1:4567"}, {"s3", "https://s3.example"}}},
      {"exportRetryMaxMs", 5000}};
  auto r = parseConfig(j, "/gg");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->evergreen.stream_manager.export_region, "eu-west-1");
  ASSERT_EQ(r->evergreen.stream_manager.export_endpoints.size(), 2u);
  EXPECT_EQ(r->evergreen.stream_manager.export_retry_max_ms, 5000);
  j["evergreen"]["streamManager"]["endpoints"] = {{"dynamo", "http://x"}};
  EXPECT_EQ(errorOf(j),
            "evergreen.streamManager.endpoints.dynamo: unknown service (kinesis, iotanalytics, "
            "iotsitewise, s3)");
  j["evergreen"]["streamManager"]["endpoints"] = {{"kinesis", "127.0.0.1:1"}};
  EXPECT_EQ(errorOf(j),
            "evergreen.streamManager.endpoints.kinesis: expected an http:// or https:// URL, got "
            "\"127.0.0.1:1\"");
}

}  // namespace
}  // namespace evg::config
