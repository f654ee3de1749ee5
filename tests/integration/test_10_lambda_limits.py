"""Work queue bound (runtime.maxWorkItemCount): a flooded slow pinned function drops the excess
(counted in `evergreen status`), and an AllOrError publish towards the full queue raises in the
publishing function's SDK and reaches no target."""

import json
import time

import evg_harness as h
import lambda_helpers as lh

MAX_ITEMS = 2
SLEEP_S = 2.0  # Slow's handler time: the queue stays full this long after the flood


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
            dev.publish("slow/in", json.dumps({"sleep": SLEEP_S, "tag": i}))
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
        r = json.loads(lh.expect_on(dev, "invoker/result").payload)
        if r["ok"] and time.monotonic() - t0 > SLEEP_S * 0.8:
            raise AssertionError("inconclusive: the machine was too slow, Slow's queue may have "
                                 f"drained before the publish: {r}")
        assert r["ok"] is False, f"AllOrError publish to a full queue did not raise: {r}"
        assert "InvocationException" in r["error"] and "429" in r["error"], r
        # BestEffort (the default) is not refused: Dev gets it; the AllOrError one never came.
        dev.publish("invoker/in", json.dumps({"op": "publish", "topic": "slow/in",
                                              "payload": {"sleep": 0, "tag": "best-effort"}}))
        # (Per-connection order: had the AllOrError publish reached Dev, it would come first.)
        m = lh.expect_on(dev, "slow/in")
        assert json.loads(m.payload)["tag"] == "best-effort", m.payload
        assert json.loads(lh.expect_on(dev, "invoker/result").payload)["ok"] is True
        assert core.status()["router"]["publishRefusedAllOrError"] == 1

        # What was accepted is served in order, one at a time (first two checked).
        tags = [json.loads(lh.expect_on(dev, "sleeper/out", timeout=2 * SLEEP_S + 2).payload)
                ["tag"] for _ in range(2)]
        assert tags == [0, 1], tags
        assert "all-or-error" not in tags
    finally:
        dev.close()
