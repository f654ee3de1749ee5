"""config.json: invalid values and syntax are refused with exit 2 and one message naming the
problem (never a half start); a real v1 config.json with extra fields starts; an empty root is
initialised."""

import json
import os
import subprocess

import pytest

import evg_harness as h


def run_core_expect_exit(core, timeout=10):
    """Runs `evergreen run` and expects it to exit by itself (bounded)."""
    r = subprocess.run(
        [h.evergreen_binary(), "run", "--root", core.root],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return r


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_invalid_port_value_exits_2_naming_the_json_path(make_core):
    core = make_core()
    core.config["coreThing"]["ggMqttPort"] = "abc"
    core.write_config()
    r = run_core_expect_exit(core)
    assert r.returncode == 2, r.stderr
    err = lines(r.stderr)
    assert len(err) == 1, f"expected exactly one message, got: {r.stderr!r}"
    assert "coreThing.ggMqttPort" in err[0]
    assert "abc" in err[0]
    assert lines(r.stdout) == []
    # Never a half start: nothing was initialised, no control socket.
    assert not os.path.exists(os.path.join(core.certs_dir, "group-ca.pem"))
    assert not os.path.exists(os.path.join(core.root, "var", "run", "evergreen.sock"))


def test_out_of_range_value_in_evergreen_block_exits_2(make_core):
    core = make_core()
    core.set_mqtt(maxPayloadBytes=0)
    core.write_config()
    r = run_core_expect_exit(core)
    assert r.returncode == 2
    err = lines(r.stderr)
    assert len(err) == 1, r.stderr
    assert "evergreen.mqtt.maxPayloadBytes" in err[0]


def test_unknown_key_in_evergreen_block_is_an_error(make_core):
    core = make_core()
    core.set_mqtt(maxConection=5)
    core.write_config()
    r = run_core_expect_exit(core)
    assert r.returncode == 2
    err = lines(r.stderr)
    assert len(err) == 1, r.stderr
    assert "evergreen.mqtt.maxConection" in err[0]


def test_bad_json_syntax_exits_2(make_core):
    core = make_core()
    os.makedirs(os.path.dirname(core.config_file), exist_ok=True)
    good = json.dumps(core.config, indent=2)
    with open(core.config_file, "w") as f:
        f.write(good.replace('"managedRespawn": false', '"managedRespawn": false,,'))
    r = run_core_expect_exit(core)
    assert r.returncode == 2, r.stderr
    err = lines(r.stderr)
    assert len(err) == 1, r.stderr
    assert "config.json" in err[0]


def test_missing_thing_arn_exits_2(make_core):
    core = make_core()
    del core.config["coreThing"]["thingArn"]
    core.write_config()
    r = run_core_expect_exit(core)
    assert r.returncode == 2
    assert "coreThing.thingArn" in r.stderr
    assert len(lines(r.stderr)) == 1


def test_real_v1_config_with_extra_fields_starts_and_logs_unused_fields(make_core):
    core = make_core()
    real = {
        "coreThing": {
            "caPath": "root.ca.pem",
            "certPath": "abcd1234ef-certificate.pem.crt",
            "keyPath": "abcd1234ef-private.pem.key",
            "thingArn": "arn:aws:iot:eu-west-1:123456789012:thing/MyGroup_Core",
            "iotHost": "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
            "ggHost": "greengrass-ats.iot.eu-west-1.amazonaws.com",
            "iotMqttPort": 8883,
            "iotHttpPort": 8443,
            "ggHttpPort": 8443,
            "keepAlive": 600,
            "ggMqttPort": core.tls_port,
            "ggDaemonPort": core.daemon_port,
            "systemComponentAuthTimeout": 5000,
            "mqttOperationTimeout": 5,
        },
        "runtime": {
            "maxWorkItemCount": 1024,
            "maxConcurrentLimit": 25,
            "lruSize": 25,
            "mountAllBlockDevices": "no",
            "postStartHealthCheckTimeout": 30000,
            "allowFunctionsToRunAsRoot": "no",
            "cgroup": {"useSystemd": "yes"},
        },
        "managedRespawn": False,
        "crypto": {
            "principals": {
                "SecretsManager": {
                    "privateKeyPath": "file:///greengrass/certs/abcd1234ef-private.pem.key"
                },
                "IoTCertificate": {
                    "privateKeyPath": "file:///greengrass/certs/abcd1234ef-private.pem.key",
                    "certificatePath": "file:///greengrass/certs/abcd1234ef-certificate.pem.crt",
                },
            },
            "caPath": "file:///greengrass/certs/root.ca.pem",
        },
        "mqttMaxConnectionRetryInterval": 60,
        "system": {"shadowSyncTimeout": 5},
        "someFutureField": {"x": 1},
        "evergreen": {"mqtt": {"bindAddress": "127.0.0.1"}},
    }
    core.write_config(real)
    core.start(write_config=False)
    st = core.status()
    assert st["thingName"] == "MyGroup_Core"
    assert st["mqtt"]["tlsPort"] == core.tls_port
    # stderr is unbuffered; the log file is checked after a clean stop (see test_07 for the
    # file's liveness).
    rc, _ = core.stop()
    assert rc == 0
    for text in (core.stderr(), core.log("runtime")):
        unused = [line for line in text.splitlines() if "not used" in line]
        assert len(unused) == 1, text
        assert "[INFO]" in unused[0]
        for field in ("coreThing.ggHost", "coreThing.systemComponentAuthTimeout",
                      "runtime.cgroup.useSystemd", "managedRespawn", "someFutureField"):
            assert field in unused[0], f"{field} missing from: {unused[0]}"


def private_netns_prefix():
    """The default config listens on fixed ports (8883, 8000) that another core on this host may
    hold: run it in a private network namespace (the control socket is a Unix socket, so
    `evergreen status` still reaches it)."""
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace (unshare -n) to isolate default ports")
    return ("unshare", "-n")


def test_empty_root_is_initialised(make_core):
    core = make_core()
    assert not os.path.exists(core.config_file)
    core.start(write_config=False, prefix=private_netns_prefix())
    out = core.stdout()
    assert "created default config" in out
    assert "group CA" in out
    assert "server certificate" in out
    for p in ("config/config.json", "certs/group-ca.pem", "certs/group-ca.key",
              "certs/server.pem", "certs/server.key", "var/log/system"):
        assert os.path.exists(os.path.join(core.root, p)), p
    assert os.stat(os.path.join(core.root, "certs/group-ca.key")).st_mode & 0o077 == 0
    cfg = json.load(open(core.config_file))
    assert cfg["coreThing"]["thingArn"].endswith(":thing/EvergreenCore")
    assert "evergreen" in cfg
    assert core.status()["thingName"] == "EvergreenCore"


def test_second_start_keeps_the_ca(make_core, tmp_path):
    # An initialised root is reused: same CA, nothing new printed.
    core = make_core()
    core.start()
    with open(core.ca_path) as f:
        ca1 = f.read()
    rc, _ = core.stop()
    assert rc == 0
    core.start(write_config=False)
    with open(core.ca_path) as f:
        assert f.read() == ca1
