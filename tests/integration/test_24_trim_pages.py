"""The core's resident pages after start (issue 17, core idle memory): once started, the core
unmaps its private read-only file pages (program and library code, read-only data) and lets
what it uses fault back (src/daemon/working_set.h; evergreen.runtime.trimStartupPages, default
on). Checked end to end on two cores started side by side, trim on and off:

* the trimming core logs what it unmapped and maps far fewer file pages than the other one;
* it keeps working after the trim: a device's message reaches a subscriber through it (code and
  read-only data fault back from the page cache), and `evergreen status` answers.
"""

import os
import time

import evg_harness as h
import lambda_helpers as lh


def _rss_file_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/PID/status")


def _start(make_core, name, trim):
    core = make_core(name)
    core.set_mqtt(openBroker=True)
    core.config["evergreen"].setdefault("runtime", {})["trimStartupPages"] = trim
    core.start()
    return core


def test_trim_unmaps_start_up_pages_and_the_core_keeps_working(make_core):
    trimmed = _start(make_core, "trimmed", True)
    untrimmed = _start(make_core, "untrimmed", False)
    log = os.path.join(trimmed.system_log_dir, "runtime.log")
    lh.wait_file_contains(log, ["start-up pages unmapped:"], timeout=10)
    time.sleep(0.5)
    on, off = _rss_file_kb(trimmed.proc.pid), _rss_file_kb(untrimmed.proc.pid)
    # Untrimmed: ~11 MB of file pages (libcrypto, the binary, libstdc++, SQLite); trimmed: ~3 MB.
    assert on < off * 0.6, f"RssFile trimmed {on} kB vs untrimmed {off} kB"
    with open(os.path.join(untrimmed.system_log_dir, "runtime.log")) as f:
        assert "start-up pages unmapped" not in f.read()

    # Still a working broker (code and read-only data fault back from the page cache): a message
    # from one mosquitto client to another through the trimmed core, then `evergreen status`.
    h.mosquitto_delivers(trimmed, "trim/t", "after-trim")
    assert trimmed.status()["openBroker"] is True


def test_idle_core_trims_again_after_work_brought_pages_back(make_core):
    core = make_core("idle")
    core.set_mqtt(openBroker=True)
    core.set_log(level="DEBUG")
    core.config["evergreen"].setdefault("runtime", {})["trimIdlePagesSeconds"] = 1
    core.start()
    log = os.path.join(core.system_log_dir, "runtime.log")
    lh.wait_file_contains(log, ["start-up pages unmapped:"], timeout=10)
    # Work after start: status queries and a routed message fault code back in.
    for _ in range(3):
        core.status()
    h.mosquitto_delivers(core, "trim/idle", "busy")
    busy = _rss_file_kb(core.proc.pid)
    # Idle for a period: the core trims again, on its own.
    lh.wait_file_contains(log, ["idle pages unmapped:"], timeout=15)
    time.sleep(0.2)
    idle = _rss_file_kb(core.proc.pid)
    assert idle < busy - 256, f"RssFile {busy} kB after the work, {idle} kB once idle"
    # Still working after the second trim.
    h.mosquitto_delivers(core, "trim/idle", "again")
