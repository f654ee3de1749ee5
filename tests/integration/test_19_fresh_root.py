"""A freshly initialised root, as a new user gets it (issue 10 item 3): secrets work out of the
box (a generated 0600 secrets key when no core key exists) and a clean start logs no ERROR."""

import os
import re
import stat
import subprocess

import pytest

import evg_harness as h

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fresh-AbCdEf"


def netns_prefix():
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace (unshare -n) to isolate default ports")
    return ("unshare", "-n")


def error_lines(text):
    return [l for l in text.splitlines() if re.search(r"\bERROR\b", l)]


def log_files(core):
    text = ""
    for d, _, files in os.walk(os.path.join(core.root, "var", "log")):
        for f in files:
            with open(os.path.join(d, f), errors="replace") as fh:
                text += fh.read()
    return text


def test_fresh_root_supports_secrets_and_starts_without_error(make_core):
    core = make_core()
    prefix = netns_prefix()
    core.start(write_config=False, prefix=prefix)  # initialises the empty root (default config)
    rc, _ = core.stop()
    assert rc == 0
    assert error_lines(core.stderr()) == [], core.stderr()
    assert error_lines(log_files(core)) == []
    assert error_lines(log_files(core)) == []
    assert not os.path.exists(os.path.join(core.certs_dir, "core.private.key"))

    r = h.run_cli("secrets", "put", "--root", core.root, "--arn", SECRET_ARN, "--string", "s3cr3t")
    assert r.returncode == 0, r.stderr
    key = os.path.join(core.certs_dir, "secrets.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    r = h.run_cli("secrets", "list", "--root", core.root)
    assert r.returncode == 0 and SECRET_ARN in r.stdout, r.stderr

    # The second start reads the store with the same key: still no ERROR.
    core.start(write_config=False, prefix=prefix)
    assert "secrets" in core.status()  # the secrets service is up
    rc, _ = core.stop()
    assert rc == 0
    assert error_lines(core.stderr()) == [], core.stderr()
    assert error_lines(log_files(core)) == []
