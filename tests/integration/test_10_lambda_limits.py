"""Work queue bound (runtime.maxWorkItemCount): a flooded slow pinned function drops the excess
(counted in `evergreen status`), and an AllOrError publish towards the full queue raises in the
publishing function's SDK and reaches no target."""

import json
import time

import evg_harness as h
import lambda_helpers as lh

MAX_ITEMS = 2


def test_flood_drops_excess_and_all_or_error_raises(make_core):
    core = lh.lambda_core(make_core, max_work_items=MAX_ITEMS)
    slow = lh.create_function(core, "Slow", "sleeper", "sleeper.handler")
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(slow, pinned=True, timeout=10).function(inv, timeout=10)
         .sub("Dev", "slow/in", slow).sub(slow, "sleeper/out", "Dev")
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev")
         # Invoker's publishes on slow/in go to Slow *and* to Dev: AllOrError means neither.
         .sub(inv, "slow/in", slow).sub(inv, "slow/in", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        for t in ("sleeper/out", "invoker/result", "slow/in"):
            dev.subscribe(t)
        lh.wait_fn_status(core, slow, lambda s: s["workers"] == 1)
        # Warm the invoker so that its publish below happens while Slow's queue is still full.
        dev.publish("invoker/in", json.dumps({"op": "publish", "topic": "warm/up"}))
        assert lh.expect_json(dev, "invoker/result")["ok"] is True

        flood = 8
        for i in range(flood):
            dev.publish("slow/in", json.dumps({"sleep": 1.5, "tag": i}))
        s = lh.wait_fn_status(core, slow, lambda s: s["accepted"] + s["dropped"] == flood,
                              what="every flooded message accepted or dropped")
        # One in the worker plus at most MAX_ITEMS queued (a second in-flight slot at most
        # if the worker took one before the rest arrived).
        assert s["dropped"] > 0, s
        assert s["accepted"] <= MAX_ITEMS + 2, s
        assert s["queued"] <= MAX_ITEMS, s

        t0 = time.monotonic()
        dev.publish("invoker/in", json.dumps({"op": "publish", "topic": "slow/in",
                                              "policy": "AllOrException",
                                              "payload": {"sleep": 0, "tag": "all-or-error"}}))
        r = lh.expect_json(dev, "invoker/result")
        assert time.monotonic() - t0 < 1.4, "Slow's queue drained before the check"
        assert r["ok"] is False, f"AllOrError publish to a full queue did not raise: {r}"
        assert "InvocationException" in r["error"] and "429" in r["error"], r
        # BestEffort (the default) is not refused: Dev gets it; the AllOrError one never came.
        dev.publish("invoker/in", json.dumps({"op": "publish", "topic": "slow/in",
                                              "payload": {"sleep": 0, "tag": "best-effort"}}))
        m = dev.expect()
        assert m.topic == "slow/in", f"{m.topic}: {m.payload!r}"
        assert json.loads(m.payload)["tag"] == "best-effort"
        assert lh.expect_json(dev, "invoker/result")["ok"] is True
        assert core.status()["router"]["publishRefusedAllOrError"] == 1

        # Everything accepted is eventually served (each in 1.5 s, one worker).
        accepted = lh.fn_status(core, slow)["accepted"]
        tags = [lh.expect_json(dev, "sleeper/out", timeout=6)["tag"] for _ in range(accepted)]
        assert tags[0] == 0 and "all-or-error" not in tags, tags
    finally:
        dev.close()
