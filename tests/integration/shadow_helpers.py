"""Helpers for the shadow and secrets black-box tests (test_17_*.py) and bench/shadow_bench.py.

ServiceGroup = lambda_helpers.LambdaGroup plus a ResourceDefinitionVersion with secret resources
and per-function ResourceAccessPolicies. probe_call() drives tests/integration/functions/
shadow_probe (greengrasssdk iot-data shadow calls and secretsmanager.get_secret_value inside a
function) from a device and returns the function's report. Every wait is bounded.
"""

import json

import evg_harness as h
import lambda_helpers as lh

SECRET_ARN = f"arn:aws:secretsmanager:{h.REGION}:{h.ACCOUNT}:secret:db-pass-AbCdEf"
SECRET_BIN_ARN = f"arn:aws:secretsmanager:{h.REGION}:{h.ACCOUNT}:secret:cert-blob-Zz9Yy8"


def shadow_topic(thing, op, suffix=None):
    t = f"$aws/things/{thing}/shadow/{op}"
    return f"{t}/{suffix}" if suffix else t


class ServiceGroup(lh.LambdaGroup):
    def __init__(self, core_thing="EvergreenCore"):
        super().__init__(core_thing)
        self.resources = []  # (id, name, arn, extra stages)
        self.policies = {}  # function arn -> [resource ids]

    def secret(self, res_id, arn, stages=None):
        self.resources.append((res_id, res_id, arn, stages))
        return self

    def grant(self, fn_arn, res_id):
        self.policies.setdefault(fn_arn, []).append(res_id)
        return self

    def to_json(self):
        g = super().to_json()
        for f in g["FunctionDefinitionVersion"]["Functions"]:
            ids = self.policies.get(f["FunctionArn"])
            if ids:
                f["FunctionConfiguration"]["Environment"]["ResourceAccessPolicies"] = [
                    {"ResourceId": i, "Permission": "ro"} for i in ids]
        if self.resources:
            res = []
            for (i, name, arn, stages) in self.resources:
                data = {"ARN": arn}
                if stages:
                    data["AdditionalStagingLabelsToDownload"] = stages
                res.append({"Id": i, "Name": name,
                            "ResourceDataContainer": {"SecretsManagerSecretResourceData": data}})
            g["ResourceDefinitionVersion"] = {"Resources": res}
        return g


def probe_function(core, name):
    return lh.create_function(core, name, "shadow_probe", "shadow_probe.handler")


def probe_call(dev, topic_in, event, reply="probe/out", timeout=10):
    """Publishes event on topic_in (routed to a shadow_probe function) and returns its report
    from reply (dev must be subscribed to reply)."""
    tag = event.setdefault("tag", f"t{id(event)}")
    event["reply"] = reply
    dev.publish(topic_in, json.dumps(event))
    while True:
        m = lh.expect_on(dev, reply, timeout)
        out = json.loads(m.payload)
        if out.get("tag") == tag:
            return out


def secrets_put(core, arn, *args, check=True):
    r = h.run_cli("secrets", "put", "--root", core.root, "--arn", arn, *args, timeout=30)
    if check:
        assert r.returncode == 0, f"secrets put: exit {r.returncode}\n{r.stderr}"
    return r
