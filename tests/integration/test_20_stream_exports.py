"""Stream manager exports (issue 13, exporters) on the real core, driven by the GENUINE Python
SDK's StreamManagerClient (read from <shared>/vendor, never copied): export definitions are
created with the SDK's own data classes, messages appended with it, statuses read back with
describe_message_stream / read_messages.

Services: kinesalite and s3rver (npm, started on loopback by tes_helpers.Emulators) behind
tes_helpers.SigV4Proxy, which VERIFIES every request's SigV4 signature against the secret the
fake AWS IoT credentials provider issued to the core's token exchange (so the exporters sign
with the core's own rotating credentials). IoT Analytics and SiteWise: small fakes here that
check the request shapes and signatures."""

import base64
import json
import os
import sys
import threading
import warnings

import pytest

import evg_harness as h
import genuine_helpers as gh
import lambda_helpers as lh
import tes_helpers as th

sys.path.insert(0, os.path.dirname(gh.vendor(*gh.PY_SDK)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from greengrasssdk.stream_manager import (  # noqa: E402
        ExportDefinition, ExportFormat, HTTPConfig, IoTAnalyticsConfig, IoTSiteWiseConfig, KinesisConfig,
        MessageStreamDefinition, ReadMessagesOptions, S3ExportTaskDefinition,
        S3ExportTaskExecutorConfig, Status, StatusConfig, StatusLevel, StatusMessage,
        StrategyOnFull, StreamManagerClient, Util)
    from greengrasssdk.stream_manager.data import (  # noqa: E402
        AssetPropertyValue, PutAssetPropertyValueEntry, Quality, TimeInNanos, Variant)

SM_ARN = "arn:aws:lambda:::function:GGStreamManager:1"


@pytest.fixture
def provider(pki):
    p = th.FakeIotCredentialsProvider(pki, lifetime_s=30).start()
    yield p
    p.stop()


class FakeAwsJson:
    """IoT Analytics (POST /messages/batch) and SiteWise (POST /properties) for tests: checks
    the SigV4 signature with the provider's issued secret, records the bodies, and answers
    with per-entry errors for the first `fail_first` entries it sees."""

    def __init__(self, provider, fail_first=()):
        self.provider = provider
        self.fail_first = set(fail_first)
        self.requests = []  # (path, service, valid signature, body json)
        self.lock = threading.Lock()
        outer = self

        class Handler(th.QuietHandler):
            def do_POST(self):
                body = self.read_body()
                _, service, valid, _ = th.sigv4_check(outer.provider, "POST", self.path,
                                                      self.headers, body)
                doc = json.loads(body)
                with outer.lock:
                    outer.requests.append((self.path, service, valid, doc))
                    errors = []
                    if self.path == "/messages/batch":
                        for m in doc["messages"]:
                            if m["messageId"] in outer.fail_first:
                                outer.fail_first.discard(m["messageId"])
                                errors.append({"messageId": m["messageId"],
                                               "errorCode": "InternalFailureException",
                                               "errorMessage": "try again"})
                        answer = {"batchPutMessageErrorEntries": errors}
                    else:
                        for e in doc["entries"]:
                            if e["entryId"] in outer.fail_first:
                                outer.fail_first.discard(e["entryId"])
                                errors.append({"entryId": e["entryId"], "errors": [
                                    {"errorCode": "InternalFailureException",
                                     "errorMessage": "try again", "timestamps": []}]})
                        answer = {"errorEntries": errors}
                self.send_json(200, answer)

        self._http = th.LoopbackHttp(Handler)
        self.port = self._http.port

    def url(self):
        return self._http.url()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self._http.stop()


def export_core(make_core, pki, provider, endpoints):
    def configure(cfg):
        cfg["evergreen"]["streamManager"] = {"region": h.REGION, "endpoints": endpoints,
                                             "exportRetryMaxMs": 1000}
    core = th.tes_core(make_core, pki, provider, configure=configure)
    core.sm_port = h.free_port()
    env = {"STREAM_MANAGER_SERVER_PORT": str(core.sm_port),
           "STREAM_MANAGER_AUTHENTICATE_CLIENT": "false"}
    core.deploy_ok(lh.LambdaGroup().function(SM_ARN, fn_id="stream-manager", env=env))
    return core


def export_status(client, stream, identifier):
    info = client.describe_message_stream(stream)
    for s in info.export_statuses or []:
        if s.export_config_identifier == identifier:
            return s
    return None


def kinesis_records(kin, stream):
    shard = kin.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=stream, ShardId=shard,
                                ShardIteratorType="TRICE_HORIZON".replace("TRICE", "TRIM"))
    it = it["ShardIterator"]
    out = []
    for _ in range(200):
        r = kin.get_records(ShardIterator=it, Limit=10000)
        out += [x["Data"] for x in r["Records"]]
        if not r["Records"]:
            break
        it = r["NextShardIterator"]
    return out


def restart_kinesalite(emu):
    """Starts kinesalite again on its port (it keeps no state: streams must be created)."""
    import subprocess
    import shutil
    node = shutil.which("node")
    bin_dir = os.path.join(emu.base, "emu", "node_modules", ".bin")
    emu.kinesis = subprocess.Popen(
        [node, os.path.join(bin_dir, "kinesalite"), "--port", str(emu.kinesis_port),
         "--createStreamMs", "0"], stdout=emu.logs, stderr=emu.logs)
    th._wait_port(emu.kinesis_port, emu.kinesis, "kinesalite")


def test_kinesis_export_survives_the_service_being_down(make_core, pki, provider, emulators):
    # Kinesis down first: the exporter backs off, reports the error, loses nothing.
    emulators.kinesis.terminate()
    emulators.kinesis.wait(timeout=10)
    proxy = th.SigV4Proxy(emulators.kinesis_port, provider)
    core = export_core(make_core, pki, provider, {"kinesis": proxy.url()})
    try:
        with StreamManagerClient(port=core.sm_port) as client:
            client.create_message_stream(MessageStreamDefinition(
                name="telemetry", strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(kinesis=[KinesisConfig(
                    identifier="toKinesis", kinesis_stream_name="ks", batch_size=100)])))
            payloads = [b"msg-%04d-" % i + os.urandom(8) for i in range(700)]
            for p in payloads[:300]:
                client.append_message("telemetry", p)
            h.wait_until(lambda: (export_status(client, "telemetry", "toKinesis").error_message
                                  or ""), 20, what="an export error while Kinesis is down")
            st = export_status(client, "telemetry", "toKinesis")
            assert st.last_exported_sequence_number == -1
            assert st.exported_messages_count in (None, 0)
            # Up again (kinesalite starts empty: create the stream), and more appends meanwhile.
            restart_kinesalite(emulators)
            kin = th.boto3_client("kinesis", emulators.kinesis_port)
            kin.create_stream(StreamName="ks", ShardCount=1)
            for p in payloads[300:]:
                client.append_message("telemetry", p)
            h.wait_until(lambda: export_status(client, "telemetry", "toKinesis")
                         .last_exported_sequence_number == 699, 60,
                         what="all 700 messages exported")
            st = export_status(client, "telemetry", "toKinesis")
            assert st.exported_messages_count == 700
            assert not st.error_message
            assert st.last_export_time > 0
        got = kinesis_records(kin, "ks")
        # Every message once or more, in order of first appearance, none lost.
        first = []
        seen = set()
        for d in got:
            if d not in seen:
                seen.add(d)
                first.append(d)
        assert first == payloads
        recs = [r for r in proxy.snapshot() if r["akid"]]
        assert recs and all(r["valid"] for r in recs), recs[:3]
        assert "exporter kinesis \"toKinesis\"" in core.log("GGStreamManager")
    finally:
        proxy.stop()


def test_export_progress_survives_a_restart(make_core, pki, provider, emulators):
    kin = th.boto3_client("kinesis", emulators.kinesis_port)
    kin.create_stream(StreamName="resume", ShardCount=1)
    core = export_core(make_core, pki, provider,
                       {"kinesis": f"http://127.0.0.1:{emulators.kinesis_port}"})
    with StreamManagerClient(port=core.sm_port) as client:
        client.create_message_stream(MessageStreamDefinition(
            name="r", strategy_on_full=StrategyOnFull.RejectNewData,
            export_definition=ExportDefinition(kinesis=[KinesisConfig(
                identifier="k", kinesis_stream_name="resume")])))
        for i in range(50):
            client.append_message("r", b"a-%d" % i)
        h.wait_until(lambda: export_status(client, "r", "k").last_exported_sequence_number == 49,
                     30, what="first 50 exported")
    core.stop()
    core.start()
    with StreamManagerClient(port=core.sm_port) as client:
        for i in range(50, 80):
            client.append_message("r", b"a-%d" % i)
        h.wait_until(lambda: export_status(client, "r", "k").last_exported_sequence_number == 79,
                     30, what="30 more exported after the restart")
    # Resumed where it stopped: nothing exported twice.
    assert kinesis_records(kin, "resume") == [b"a-%d" % i for i in range(80)]


def test_s3_export_tasks_with_status_stream(make_core, pki, provider, emulators, workdir):
    s3 = th.boto3_client("s3", emulators.s3_port)
    s3.create_bucket(Bucket="evg-exports")
    proxy = th.SigV4Proxy(emulators.s3_port, provider)
    core = export_core(make_core, pki, provider, {"s3": proxy.url()})
    small = os.path.join(workdir, "small.bin")
    big = os.path.join(workdir, "big.bin")
    with open(small, "wb") as f:
        f.write(os.urandom(1000))
    with open(big, "wb") as f:
        f.write(os.urandom(6 * 1024 * 1024 + 123))  # above the 5 MiB threshold: multipart
    tasks = [("file://" + small, "in/small.bin"), ("file://" + os.path.join(workdir, "nope"),
                                                    "in/nope.bin"), ("file://" + big, "in/big.bin")]
    try:
        with StreamManagerClient(port=core.sm_port) as client:
            client.create_message_stream(MessageStreamDefinition(
                name="status", strategy_on_full=StrategyOnFull.OverwriteOldestData))
            client.create_message_stream(MessageStreamDefinition(
                name="tasks", strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(s3_task_executor=[S3ExportTaskExecutorConfig(
                    identifier="toS3", status_config=StatusConfig(
                        status_level=StatusLevel.INFO, status_stream_name="status"))])))
            for url, key in tasks:
                client.append_message("tasks", Util.validate_and_serialize_to_json_bytes(
                    S3ExportTaskDefinition(input_url=url, bucket="evg-exports", key=key,
                                           user_metadata={"origin": "evergreen"})))
            msgs = client.read_messages("status", ReadMessagesOptions(
                desired_start_sequence_number=0, min_message_count=6, max_message_count=10,
                read_timeout_millis=50000))
            statuses = [Util.deserialize_json_bytes_to_obj(m.payload, StatusMessage) for m in msgs]
        got = [(s.status_context.sequence_number, s.status) for s in statuses]
        assert got == [(0, Status.InProgress), (0, Status.Success), (1, Status.InProgress),
                       (1, Status.Failure), (2, Status.InProgress), (2, Status.Success)], got
        fail = statuses[3]
        assert fail.status_level == StatusLevel.ERROR and "nope" in fail.message
        assert statuses[1].status_context.s3_export_task_definition.key == "in/small.bin"
        assert statuses[1].status_context.export_identifier == "toS3"
        assert statuses[1].status_context.stream_name == "tasks"
        for path, key in ((small, "in/small.bin"), (big, "in/big.bin")):
            obj = s3.get_object(Bucket="evg-exports", Key=key)
            with open(path, "rb") as f:
                assert obj["Body"].read() == f.read()
            assert obj["Metadata"].get("origin") == "evergreen"
        paths = [r["path"] for r in proxy.snapshot()]
        assert any("?uploads" in p for p in paths) and any("partNumber=2" in p for p in paths)
        assert all(r["valid"] for r in proxy.snapshot()), proxy.snapshot()[:3]
    finally:
        proxy.stop()


def test_iot_analytics_and_sitewise_exports(make_core, pki, provider):
    fake = FakeAwsJson(provider, fail_first={"dev-1", "e-2"})
    core = export_core(make_core, pki, provider,
                       {"iotanalytics": fake.url(), "iotsitewise": fake.url()})
    try:
        with StreamManagerClient(port=core.sm_port) as client:
            client.create_message_stream(MessageStreamDefinition(
                name="ana", strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(iot_analytics=[IoTAnalyticsConfig(
                    identifier="toAnalytics", iot_channel="chan", iot_msg_id_prefix="dev-")])))
            client.create_message_stream(MessageStreamDefinition(
                name="sw", strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(iot_sitewise=[IoTSiteWiseConfig(
                    identifier="toSitewise", batch_size=10)])))
            for i in range(5):
                client.append_message("ana", json.dumps({"i": i}).encode())
            for i in range(4):
                if i == 1:
                    client.append_message("sw", b"{not a sitewise entry")
                    continue
                entry = PutAssetPropertyValueEntry(
                    entry_id=f"e-{i}", property_alias="/plant/line1/temp",
                    property_values=[AssetPropertyValue(
                        value=Variant(double_value=20.5 + i),
                        quality=Quality.GOOD,
                        timestamp=TimeInNanos(time_in_seconds=1700000000 + i, offset_in_nanos=7))])
                client.append_message("sw", Util.validate_and_serialize_to_json_bytes(entry))
            h.wait_until(lambda: export_status(client, "ana", "toAnalytics")
                         .last_exported_sequence_number == 4, 30, what="analytics exported")
            h.wait_until(lambda: export_status(client, "sw", "toSitewise")
                         .last_exported_sequence_number == 3, 30, what="sitewise exported")
            sw = export_status(client, "sw", "toSitewise")
            assert sw.exported_messages_count == 3
            assert "message 1 skipped: not a PutAssetPropertyValueEntry" in sw.error_message, \
                sw.error_message
        reqs = fake.snapshot()
        assert reqs and all(valid for _, _, valid, _ in reqs), reqs
        ana = [d for p, svc, _, d in reqs if p == "/messages/batch"]
        assert all(svc == "iotanalytics" for p, svc, _, _ in reqs if p == "/messages/batch")
        ids = [m["messageId"] for d in ana for m in d["messages"]]
        # Batches depend on timing; each id once, in order, and the failed one once more.
        assert list(dict.fromkeys(ids)) == [f"dev-{i}" for i in range(5)], ids
        assert sorted(ids) == sorted([f"dev-{i}" for i in range(5)] + ["dev-1"]), ids
        assert all(d["channelName"] == "chan" for d in ana)
        msgs = {m["messageId"]: m for d in ana for m in d["messages"]}
        assert json.loads(base64.b64decode(msgs["dev-3"]["payload"])) == {"i": 3}
        sws = [d for p, svc, _, d in reqs if p == "/properties"]
        assert all(svc == "iotsitewise" for p, svc, _, _ in reqs if p == "/properties")
        entries = [e["entryId"] for d in sws for e in d["entries"]]
        # The unparsable message 1 is skipped; e-2 failed once and was sent again.
        assert list(dict.fromkeys(entries)) == ["e-0", "e-2", "e-3"], entries
        assert entries.count("e-2") == 2 and len(entries) == 4, entries
        e0 = sws[0]["entries"][0]
        assert e0["propertyAlias"] == "/plant/line1/temp"
        assert e0["propertyValues"][0] == {"value": {"doubleValue": 20.5}, "quality": "GOOD",
                                           "timestamp": {"timeInSeconds": 1700000000,
                                                         "offsetInNanos": 7}}
    finally:
        fake.stop()


class HttpSink:
    """The HTTP exporter's destination: records (path, headers, body); answers 503 while
    `down`."""

    def __init__(self):
        self.down = True
        self.got = []
        self.refused = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(th.QuietHandler):
            def do_POST(self):
                body = self.read_body()
                with outer.lock:
                    if outer.down:
                        outer.refused += 1
                        code = 503
                    else:
                        outer.got.append((self.path, dict(self.headers.items()), body))
                        code = 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._http = th.LoopbackHttp(Handler)
        self.port = self._http.port

    def stop(self):
        self._http.stop()


def test_http_exporter_raw_and_json_batched(make_core, pki, provider):
    sink = HttpSink()
    core = export_core(make_core, pki, provider, {})
    base = f"http://127.0.0.1:{sink.port}"
    try:
        with StreamManagerClient(port=core.sm_port) as client:
            client.create_message_stream(MessageStreamDefinition(
                name="web", strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(http=[
                    HTTPConfig(identifier="raw", uri=base + "/raw",
                               export_format=ExportFormat.RAW_NOT_BATCHED),
                    HTTPConfig(identifier="batched", uri=base + "/batched", batch_size=10,
                               export_format=ExportFormat.JSON_BATCHED)])))
            payloads = [b"event-%d" % i for i in range(20)]
            for p in payloads:
                client.append_message("web", p)
            h.wait_until(lambda: "HTTP 503" in (export_status(client, "web", "raw")
                                                .error_message or ""), 20,
                         what="the sink's refusal reported")
            assert export_status(client, "web", "raw").last_exported_sequence_number == -1
            sink.down = False
            for name in ("raw", "batched"):
                h.wait_until(lambda: export_status(client, "web", name)
                             .last_exported_sequence_number == 19, 30, what=name + " exported")
        with sink.lock:
            raw = [(hd, b) for p, hd, b in sink.got if p == "/raw"]
            batched = [json.loads(b) for p, _, b in sink.got if p == "/batched"]
        assert [b for _, b in raw] == payloads
        assert [hd.get("X-Sequence-Number") for hd, _ in raw] == [str(i) for i in range(20)]
        assert all("Authorization" not in hd for hd, _ in raw)
        items = [x for batch in batched for x in batch]
        assert [base64.b64decode(x["payload"]) for x in items] == payloads
        assert all(len(batch) <= 10 for batch in batched)
        assert all(x["streamName"] == "web" for x in items)
    finally:
        sink.stop()
