"""Issue 16: the Debian package end to end, on this machine (CI runs as root on Debian 12).

Builds the .deb (scripts/package.sh, or $EVERGREEN_DEB), checks its control fields and contents,
installs it with dpkg -i, checks what postinst made (ggc_user/ggc_group, /var/lib/evergreen,
/etc/default/evergreen), runs `systemd-analyze verify` on the unit, starts the installed binary
the way the unit does (its ExecStart, Environment= and EnvironmentFile=, NOTIFY_SOCKET and
WATCHDOG_USEC as systemd sets them) and runs the seed example (the developer guide's function)
through it with mosquitto_pub/sub, then reinstalls (upgrade keeps the root), removes and purges
(the root survives unless EVERGREEN_PURGE_ROOT=yes) and checks what remains.

The test installs into /usr: it refuses to run when evergreen is already installed or
/var/lib/evergreen or /etc/default/evergreen exist, and its finally-block restores the machine
(package purged, root and defaults file deleted, ggc_user/ggc_group deleted when it created
them)."""

import glob
import json
import os
import pwd
import grp
import shlex
import shutil
import signal
import stat
import subprocess
import time
import zipfile

import pytest

import evg_harness as h
import service_helpers as sh

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = "/usr/lib/systemd/system/evergreen.service"
ROOT = "/var/lib/evergreen"
DEFAULTS = "/etc/default/evergreen"
REGION, ACCOUNT = "us-east-1", "123456789012"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg"),
                                reason="installs a .deb: needs root and dpkg")


def run(*cmd, check=True, timeout=600, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def installed():
    r = run("dpkg-query", "-W", "-f=${Status}", "evergreen", check=False)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def exists_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def exists_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def deb():
    given = os.environ.get("EVERGREEN_DEB")
    if given:
        return given
    build_dir = os.environ.get("EVERGREEN_DEB_BUILD_DIR", os.path.join(REPO, "build-deb"))
    env = dict(os.environ, DEB_BUILD_DIR=build_dir, JOBS=os.environ.get("JOBS", "2"))
    run("bash", os.path.join(REPO, "scripts", "package.sh"), env=env, timeout=3600)
    debs = glob.glob(os.path.join(build_dir, "evergreen_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def unit_exec(unit_text):
    """(argv, env) of the unit's ExecStart as systemd would run it: Environment=, then
    EnvironmentFile= (which overrides), then $VAR / ${VAR} expansion (unbraced $VAR splits)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    exec_start = None
    for line in unit_text.splitlines():
        if line.startswith("Environment="):
            k, v = line[len("Environment="):].split("=", 1)
            env[k] = v
        elif line.startswith("EnvironmentFile="):
            path = line[len("EnvironmentFile="):].lstrip("-")
            if os.path.exists(path):
                for l in open(path):
                    l = l.strip()
                    if l and not l.startswith("#") and "=" in l:
                        k, v = l.split("=", 1)
                        env[k] = v.strip('"\'')
        elif line.startswith("ExecStart="):
            exec_start = line[len("ExecStart="):]
    argv = []
    for word in shlex.split(exec_start):
        if word.startswith("$") and not word.startswith("${"):
            argv += env.get(word[1:], "").split()
        else:
            argv.append(word)
    return argv, env


def test_deb_install_service_seed_example_remove_purge(deb, tmp_path):
    if installed() or os.path.exists(ROOT) or os.path.exists(DEFAULTS):
        pytest.skip("evergreen (or its root/defaults) is already on this machine: not touching it")
    had_user, had_group = exists_user("ggc_user"), exists_group("ggc_group")
    core = None
    notify = None
    try:
        # --- the package itself
        fields = {k: run("dpkg-deb", "-f", deb, k).stdout.strip()
                  for k in ("Package", "Version", "Depends", "Recommends", "Maintainer")}
        assert fields["Package"] == "evergreen" and fields["Version"] == "0.1.0"
        for dep in ("libc6", "libssl3", "libsqlite3-0", "libsystemd0", "python3", "adduser"):
            assert dep in fields["Depends"], fields["Depends"]
        assert "nodejs" in fields["Recommends"]
        listing = run("dpkg-deb", "-c", deb).stdout
        for path in ("./usr/bin/evergreen", "./usr/include/greengrasssdk.h",
                     "./usr/lib/libaws-greengrass-core-sdk-c.so",
                     "./usr/lib/evergreen/runtime/python/lambda_runtime.py",
                     "./usr/lib/evergreen/runtime/nodejs/lambda_nodejs_runtime.js",
                     "./usr/lib/evergreen/runtime/executable/libaws-greengrass-core-sdk-c.so",
                     "./usr/share/evergreen/examples/example-group/group.json",
                     "./usr/lib/systemd/system/evergreen.service",
                     "./usr/share/doc/evergreen/copyright",
                     "./usr/share/man/man1/evergreen.1"):
            assert path in listing, f"{path} not in the package"

        # --- install
        run("dpkg", "-i", deb)
        assert installed()
        assert os.access("/usr/bin/evergreen", os.X_OK)
        # postinst trained the Java runtime's AppCDS archive against the installed jar (issue 17)
        jsa = "/usr/lib/evergreen/runtime/java/evergreen-lambda-runtime.jsa"
        if os.access("/usr/bin/java", os.X_OK) and os.path.exists(jsa[:-3] + "jar"):
            assert os.path.getsize(jsa) > 0
        copyright_text = open("/usr/share/doc/evergreen/copyright").read()
        assert copyright_text.startswith(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
        assert "License: Apache-2.0" in copyright_text
        u = pwd.getpwnam("ggc_user")
        assert u.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin") or had_user
        assert u.pw_uid < 1000 or had_user  # a system user
        assert exists_group("ggc_group")
        st = os.stat(ROOT)
        assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0 and st.st_gid == 0
        assert "EVERGREEN_ROOT=/var/lib/evergreen" in open(DEFAULTS).read()
        if os.path.isdir("/run/systemd/system"):
            # A host where systemd is PID 1: postinst started the unit; it must reach READY
            # (Type=notify), then make way for the run below.
            h.wait_until(lambda: run("systemctl", "is-active", "evergreen", check=False)
                         .stdout.strip() == "active", 30, what="evergreen.service active")
            run("systemctl", "stop", "evergreen")
        r = run("evergreen", "--help")
        assert "logs" in r.stdout

        # --- the unit
        # Documentation=man:evergreen(1) is checked too, unless this image drops man pages
        # (dpkg path-exclude) or has no man(1).
        man_ok = os.path.exists("/usr/share/man/man1/evergreen.1") and shutil.which("man")
        r = run("systemd-analyze", "verify", *([] if man_ok else ["--man=no"]), UNIT, check=False)
        assert r.returncode == 0, f"systemd-analyze verify:\n{r.stdout}{r.stderr}"
        unit_text = open(UNIT).read()
        for d in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
                  "Delegate=yes", "EnvironmentFile=-/etc/default/evergreen"):
            assert d in unit_text

        # --- the C SDK where a C function build expects it: no -I/-L needed
        exe = tmp_path / "c_hello"
        run("cc", "/usr/share/evergreen/examples/example-group/functions/c_hello/c_hello.c",
            "-o", str(exe), "-laws-greengrass-core-sdk-c")

        # --- start it the way the unit does, on free ports (the config is the root's own)
        plain, tls, ipc, mport = h.free_port(), h.free_port(), h.free_port(), h.free_port()
        cfg = h.base_config(tls, plain, ipc)
        cfg["runtime"]["allowFunctionsToRunAsRoot"] = "no"
        cfg["evergreen"]["metrics"] = {"port": mport}
        os.makedirs(f"{ROOT}/config", exist_ok=True)
        with open(f"{ROOT}/config/config.json", "w") as f:
            json.dump(cfg, f, indent=2)
        argv, env = unit_exec(unit_text)
        assert argv[:2] == ["/usr/bin/evergreen", "run"], argv
        notify = sh.NotifySocket(str(tmp_path))
        watchdog_usec = 30_000_000 if "WatchdogSec=30s" in unit_text else 10_000_000
        env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC=str(watchdog_usec))
        out = open(tmp_path / "core.out", "w")
        core = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        notify.wait_for("READY=1", 20)
        notify.wait_for("WATCHDOG=1", 5)
        st = json.loads(run("evergreen", "status").stdout)  # no --root: /etc/default/evergreen
        assert st["mqtt"]["plaintextPort"] == plain

        # --- the seed example from the installed examples, through the installed CLI
        ex = "/usr/share/evergreen/examples/example-group"
        zpath = tmp_path / "seed.zip"
        with zipfile.ZipFile(zpath, "w") as z:
            z.write(f"{ex}/functions/seed_example/lambda_function.py", "lambda_function.py")
        run("evergreen", "function", "create", "--function-name", "SeedExample", "--runtime",
            "python3.8", "--handler", "lambda_function.function_handler", "--zip-file",
            f"fileb://{zpath}")
        run("evergreen", "function", "publish-version", "--function-name", "SeedExample")
        run("evergreen", "function", "create-alias", "--function-name", "SeedExample", "--name",
            "PROD", "--function-version", "1")
        g = json.load(open(f"{ex}/group.json"))
        g["FunctionDefinitionVersion"]["Functions"] = [
            f for f in g["FunctionDefinitionVersion"]["Functions"] if "SeedExample" in f["FunctionArn"]]
        g["SubscriptionDefinitionVersion"]["Subscriptions"] = [
            s for s in g["SubscriptionDefinitionVersion"]["Subscriptions"]
            if "SeedExample" in s["Source"] + s["Target"]]
        gpath = tmp_path / "group.json"
        gpath.write_text(json.dumps(g))
        run("evergreen", "deploy", str(gpath))
        sub = h.mosquitto_sub_start(plain, "Dashboard", "test/topic_results", 1, wait_s=20)
        h.wait_until(lambda: json.loads(run("evergreen", "status").stdout)["mqtt"]
                     ["connectedClients"] >= 1, 10, what="Dashboard connected")
        r = h.mosquitto_pub(plain, "Sensor", "test/input_message",
                            json.dumps({"test-key": "Some string value"}))
        assert r.returncode == 0, r.stderr
        got, err = sub.communicate(timeout=30)
        assert "test/topic_results" in got, (got, err, open(tmp_path / "core.out").read()[-3000:])
        # Observability of the installed core.
        st_code, text = sh.http_get(mport, "/metrics")
        assert st_code == 200
        rc, msg = sh.promtool_check(text)
        assert rc == 0, msg
        assert "core started" in run("evergreen", "logs", "--component", "runtime").stdout

        # --- stop as systemd does (SIGTERM to the main process)
        t = time.monotonic()
        core.send_signal(signal.SIGTERM)
        assert core.wait(timeout=10) == 0
        notify.wait_for("STOPPING=1", 2, after=t)
        core = None

        # --- upgrade (reinstall over itself) keeps the root, users already exist
        run("dpkg", "-i", deb)
        assert json.load(open(f"{ROOT}/config/config.json"))["evergreen"]["metrics"]["port"] == mport
        assert os.path.isdir(f"{ROOT}/functions")

        # --- remove: binaries go, root, defaults and accounts stay
        run("dpkg", "-r", "evergreen")
        assert not os.path.exists("/usr/bin/evergreen")
        assert not os.path.exists("/usr/lib/evergreen/runtime/java")  # postrm removed the archive
        assert not os.path.exists(UNIT)
        assert os.path.exists(f"{ROOT}/config/config.json") and os.path.exists(DEFAULTS)
        assert exists_user("ggc_user") and exists_group("ggc_group")

        # --- purge without being asked: the root stays
        r = run("dpkg", "-P", "evergreen")
        assert not os.path.exists(DEFAULTS)
        assert os.path.exists(f"{ROOT}/config/config.json")
        assert "keeping /var/lib/evergreen" in r.stdout + r.stderr

        # --- purge when asked (EVERGREEN_PURGE_ROOT=yes): the root goes
        run("dpkg", "-i", deb)
        assert os.path.exists(f"{ROOT}/config/config.json")  # still the old root
        text = open(DEFAULTS).read().replace("EVERGREEN_PURGE_ROOT=no", "EVERGREEN_PURGE_ROOT=yes")
        open(DEFAULTS, "w").write(text)
        run("dpkg", "-P", "evergreen")
        assert not os.path.exists(ROOT) and not os.path.exists(DEFAULTS)
        assert not installed()
    finally:
        if core is not None and core.poll() is None:
            core.kill()
            core.wait(timeout=10)
        if notify is not None:
            notify.close()
        if installed() or run("dpkg-query", "-W", "evergreen", check=False).returncode == 0:
            run("dpkg", "-P", "evergreen", check=False)
        shutil.rmtree(ROOT, ignore_errors=True)
        if os.path.exists(DEFAULTS):
            os.unlink(DEFAULTS)
        if not had_user and exists_user("ggc_user"):
            run("deluser", "--quiet", "ggc_user", check=False)
        if not had_group and exists_group("ggc_group"):
            run("delgroup", "--quiet", "ggc_group", check=False)
