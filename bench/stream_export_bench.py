#!/usr/bin/python3
"""Stream manager export benchmark on the real core (run by hand; not part of the test suite).

Appends N messages of --size bytes to a stream through the GENUINE Python SDK's
StreamManagerClient (no exporter yet), then adds a Kinesis export (batchSize --batch) with
update_message_stream and measures the time until exportStatuses reports the last one exported:
records/s accepted by kinesalite (npm, loopback), signed with the core's token-exchange
credentials (fake AWS IoT credentials provider). Peer in the same run: boto3 PutRecords of the
same records in batches of the same size, one request at a time, straight to the same kinesalite
(the emulator's own ceiling for one in-order sender).

    /usr/bin/python3 bench/stream_export_bench.py --build build [--n 20000] [--size 256] [--batch 500]
"""

import argparse
import os
import sys
import tempfile
import time
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(args.build)
    import evg_harness as h
    import genuine_helpers as gh
    import lambda_helpers as lh
    import tes_helpers as th
    sys.path.insert(0, os.path.dirname(gh.vendor(*gh.PY_SDK)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from greengrasssdk.stream_manager import (
            ExportDefinition, KinesisConfig, MessageStreamDefinition, StrategyOnFull,
            StreamManagerClient)

    with tempfile.TemporaryDirectory(prefix="evg-export-bench-") as tmp:
        os.chmod(tmp, 0o755)
        pki = th.make_pki(os.path.join(tmp, "pki"))
        provider = th.FakeIotCredentialsProvider(pki, lifetime_s=600).start()
        emu = th.Emulators(tmp)
        cores = []
        try:
            kin = th.boto3_client("kinesis", emu.kinesis_port)
            kin.create_stream(StreamName="bench", ShardCount=1)
            kin.create_stream(StreamName="peer", ShardCount=1)

            def configure(cfg):
                cfg["evergreen"]["streamManager"] = {
                    "region": h.REGION,
                    "endpoints": {"kinesis": f"http://127.0.0.1:{emu.kinesis_port}"}}
            core = th.tes_core(lambda name: cores.append(h.Core(os.path.join(tmp, name)))
                               or cores[-1], pki, provider, configure=configure)
            port = h.free_port()
            core.deploy_ok(lh.LambdaGroup().function(
                "arn:aws:lambda:::function:GGStreamManager:1", fn_id="stream-manager",
                env={"STREAM_MANAGER_SERVER_PORT": str(port),
                     "STREAM_MANAGER_AUTHENTICATE_CLIENT": "false"}))
            payloads = [(b"%08d" % i) + os.urandom(max(0, args.size - 8)) for i in range(args.n)]
            with StreamManagerClient(port=port) as c:
                d = MessageStreamDefinition(name="b",
                                            strategy_on_full=StrategyOnFull.RejectNewData)
                c.create_message_stream(d)
                t = time.monotonic()
                for p in payloads:
                    c.append_message("b", p)
                append_s = time.monotonic() - t
                d.export_definition = ExportDefinition(kinesis=[KinesisConfig(
                    identifier="k", kinesis_stream_name="bench", batch_size=args.batch)])
                t0 = time.monotonic()
                c.update_message_stream(d)

                def done():
                    for s in c.describe_message_stream("b").export_statuses or []:
                        if s.last_exported_sequence_number == args.n - 1:
                            return True
                    return False
                h.wait_until(done, 600, interval=0.02, what="all exported")
                export_s = time.monotonic() - t0
            # Peer: boto3, same batches, one request at a time.
            t0 = time.monotonic()
            for i in range(0, args.n, args.batch):
                r = kin.put_records(StreamName="peer", Records=[
                    {"Data": p, "PartitionKey": "k%d" % j}
                    for j, p in enumerate(payloads[i:i + args.batch])])
                assert r["FailedRecordCount"] == 0
            peer_s = time.monotonic() - t0
            print(f"messages {args.n} x {args.size} B, batchSize {args.batch}")
            print(f"append (genuine Python SDK, one client): {args.n / append_s:,.0f} msg/s")
            print(f"core export to kinesalite: {export_s:.2f} s = {args.n / export_s:,.0f} records/s")
            print(f"peer boto3 PutRecords to kinesalite: {peer_s:.2f} s = "
                  f"{args.n / peer_s:,.0f} records/s")
        finally:
            for c in cores:
                c.stop()
            emu.stop()
            provider.stop()


if __name__ == "__main__":
    main()
