"""Helpers for the Lambda black-box tests (test_10_lambda_*.py) and bench/lambda_bench.py.

Builds on evg_harness (Core, Group, Paho, free ports): puts Python functions into a core's
function store through the CLI (`evergreen function create/publish-version/create-alias`, as
examples/example-group/prepare.sh does), adds a v1 FunctionDefinitionVersion to group files, and
talks raw HTTP to the IPC port. Every wait is bounded.
"""

import http.client
import json
import os
import time

import evg_harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTIONS_DIR = os.path.join(HERE, "functions")
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLE_DIR = os.path.join(REPO, "examples", "example-group")


def fn_arn(name, qualifier="PROD"):
    base = f"arn:aws:lambda:{h.REGION}:{h.ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def lambda_core(make_core, name="core", max_work_items=None, start=True):
    """A core set up to run functions: allowFunctionsToRunAsRoot when the tests run as root
    (NoContainer workers would otherwise be refused), optional runtime.maxWorkItemCount."""
    c = make_core(name)
    if os.geteuid() == 0:
        c.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
    if max_work_items is not None:
        c.config["runtime"]["maxWorkItemCount"] = max_work_items
    if start:
        c.start()
    return c


def fn_cli(core, *args, check=True):
    r = h.run_cli("function", *args, "--root", core.root, timeout=30)
    if check:
        assert r.returncode == 0, f"evergreen function {args}: exit {r.returncode}\n{r.stderr}"
    return r


def create_function(core, name, folder, handler, runtime="python3.8", alias="PROD",
                    versions=1):
    """create (from tests/integration/functions/<folder>, or an absolute path) ->
    publish-version x versions -> alias -> version 1. Returns the alias ARN. Versions after the
    first get a new $LATEST description first: as in Lambda, publishing an unchanged $LATEST
    makes no new version."""
    code = folder if os.path.isabs(folder) else os.path.join(FUNCTIONS_DIR, folder)
    fn_cli(core, "create", "--function-name", name, "--runtime", runtime, "--handler", handler,
           "--code-dir", code)
    for n in range(versions):
        if n > 0:
            fn_cli(core, "update-function-configuration", "--function-name", name,
                   "--description", f"version {n + 1}")
        fn_cli(core, "publish-version", "--function-name", name)
    if alias:
        fn_cli(core, "create-alias", "--function-name", name, "--name", alias,
               "--function-version", "1")
    return fn_arn(name, alias or "1")


class LambdaGroup(h.Group):
    """h.Group plus a FunctionDefinitionVersion (NoContainer by default, as v1 groups for
    NoContainer cores declare it)."""

    def __init__(self, core_thing="EvergreenCore"):
        super().__init__(core_thing)
        self.functions = []  # (id, arn, FunctionConfiguration)

    def function(self, arn, fn_id=None, pinned=False, timeout=3, encoding="json",
                 memory_kb=16384, env=None, isolation="NoContainer"):
        cfg = {"Pinned": pinned, "Timeout": timeout, "EncodingType": encoding,
               "MemorySize": memory_kb,
               "Environment": {"Execution": {"IsolationMode": isolation}}}
        if env:
            cfg["Environment"]["Variables"] = env
        self.functions.append((fn_id or f"fn-{len(self.functions) + 1}", arn, cfg))
        return self

    def to_json(self):
        g = super().to_json()
        g["FunctionDefinitionVersion"] = {
            "DefaultConfig": {"Execution": {"IsolationMode": "NoContainer"}},
            "Functions": [{"Id": i, "FunctionArn": a, "FunctionConfiguration": c}
                          for (i, a, c) in self.functions],
        }
        return g


def fn_status(core, arn):
    for f in core.status().get("functions", []):
        if f["arn"] == arn:
            return f
    raise AssertionError(f"{arn} not in `evergreen status` functions: {core.status()}")


def wait_fn_status(core, arn, pred, timeout=5, what="function status"):
    last = {}

    def check():
        last["s"] = fn_status(core, arn)
        return pred(last["s"])

    try:
        h.wait_until(check, timeout, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; last status: {last.get('s')}")
    return last["s"]


def created_workers(core, arn):
    """The core's "Created worker. {...}" records of arn, in order (functionArn, workerId, pid,
    and "standby": true for a worker that was its function's standby)."""
    out = []
    for line in core.all_logs().splitlines():
        if "Created worker. " in line:
            d = json.loads(line.split("Created worker. ", 1)[1])
            if d["functionArn"] == arn:
                out.append(d)
    return out


def worker_pids(core, arn):
    """Pids of arn's workers, in the order they were created."""
    return [d["pid"] for d in created_workers(core, arn)]


def expect_json(client, topic, timeout=5):
    """Next message on client (must be on topic), decoded as JSON."""
    m = client.expect(timeout)
    assert m.topic == topic, f"expected a message on {topic}, got {m.topic}: {m.payload!r}"
    return json.loads(m.payload)


def expect_on(client, topic, timeout=5):
    """The next message on topic; messages on other topics that arrive first are kept (in
    client.stash) for later expect_on calls instead of failing the test."""
    stash = client.__dict__.setdefault("stash", [])
    for i, m in enumerate(stash):
        if m.topic == topic:
            return stash.pop(i)
    deadline = time.monotonic() + timeout
    while True:
        m = client.expect(max(0.01, deadline - time.monotonic()))
        if m.topic == topic:
            return m
        stash.append(m)


def ipc_request(port, method, path, headers=None, body=None, timeout=5):
    """One raw HTTP request to the core's IPC server; returns (status, headers dict, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def user_log_path(core, name):
    return os.path.join(core.root, "var", "log", "user", h.REGION, h.ACCOUNT, name + ".log")


def wait_file_contains(path, needles, timeout=5):
    """Waits until the file at path contains every string in needles (one string or a list);
    returns its text."""
    if isinstance(needles, str):
        needles = [needles]  # not its characters
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        try:
            with open(path, "r", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if all(n in text for n in needles):
            return text
        if time.monotonic() >= deadline:
            missing = [n for n in needles if n not in text]
            raise AssertionError(f"{path} lacks {missing} after {timeout}s:\n{text[-3000:]}")
        time.sleep(0.05)


def store_path(core, path):
    """A path a worker reported, as the test process sees it. A worker whose RunAs identity
    (ggc_user) cannot search the root's ancestors (a root under a 0700 temp dir) reaches its code
    through /proc/self/fd/<n> (src/supervisor/dir_access.h; Java reports /proc/<pid>/fd/<n>):
    such a path maps back to the function store's copy under the core's root."""
    import glob
    import re
    m = re.match(r"/proc/(?:self|\d+)/fd/\d+/(.*)", path)
    if not m:
        return path
    found = sorted(glob.glob(os.path.join(core.root, "functions", "*", "code", "*", m.group(1))))
    assert found, f"{path}: no {m.group(1)} in the function store of {core.root}"
    return found[0]  # code/latest and code/<version> hold the same files
