"""New code for an existing function (issue 10 item 6) and hostile packages (issue 11 items 4
and 7): `evergreen function update-function-code / update-function-configuration` change $LATEST,
`publish-version` makes version 2 (and no version when nothing changed), an alias moves only
when updated and redeployed; zips are unpacked by libarchive under entry-type, path and size
rules, so a zip bomb is refused quickly and a link to /etc/shadow never becomes a copy."""

import json
import os
import stat
import struct
import time
import zipfile
import zlib

import evg_harness as h
import lambda_helpers as lh

GREETER = """import json
import os

import greengrasssdk

iot = greengrasssdk.client('iot-data')
from helper import CODE


def handler(event, context):
    iot.publish(topic='greeter/out', payload=json.dumps({
        'code': CODE, 'greeting': os.environ.get('GREETING', ''),
        'cwd': os.path.basename(os.getcwd())}))
"""


def write_zip(path, files=(), links=()):
    """files: (name, text, mode); links: (name, target) stored as Unix symlink entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text, mode in files:
            zi = zipfile.ZipInfo(name)
            zi.create_system = 3
            zi.external_attr = (stat.S_IFREG | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, text)
        for name, target in links:
            zi = zipfile.ZipInfo(name)
            zi.create_system = 3
            zi.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(zi, target)
    return str(path)


def greeter_zip(path, code):
    return write_zip(path, files=[("greeter.py", GREETER, 0o644),
                                  ("helper.py", f"CODE = {code!r}\n", 0o644),
                                  ("bin/tool.sh", "#!/bin/sh\necho tool\n", 0o755)],
                     links=[("lib/helper_link.py", "../helper.py")])


def zip_bomb(path, mib=1600):
    """One entry of `mib` MiB of zeros in about mib KB: a raw deflate block of 1 MiB of zeros
    (full flush, so it can be repeated) written `mib` times into a hand-built zip."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    mb = bytes(1 << 20)
    first = co.compress(mb) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(mb) + co.flush(zlib.Z_FULL_FLUSH)
    data = first + block * (mib - 1) + co.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(mb, crc)
    size = mib << 20
    name = b"bomb.bin"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 0, 8, 0, 0x21,
                          crc, len(data), size, len(name), 0, 0, 0, 0,
                          (stat.S_IFREG | 0o644) << 16, 0) + name
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                       len(local) + len(data), 0)
    with open(path, "wb") as f:
        f.write(local + data + central + eocd)
    return str(path)


def cli_json(core, *args):
    return json.loads(lh.fn_cli(core, *args).stdout)


def test_update_code_publish_alias_deploy(make_core, tmp_path):
    core = lh.lambda_core(make_core)
    v1 = cli_json(core, "create", "--function-name", "Greeter", "--runtime", "python3.8",
                  "--handler", "greeter.handler", "--zip-file",
                  greeter_zip(tmp_path / "v1.zip", "one"))
    assert v1["Version"] == "$LATEST"
    assert cli_json(core, "publish-version", "--function-name", "Greeter")["Version"] == "1"
    lh.fn_cli(core, "create-alias", "--function-name", "Greeter", "--name", "PROD",
              "--function-version", "1")
    arn = lh.fn_arn("Greeter", "PROD")
    group = (lh.LambdaGroup().device("Dev").function(arn, fn_id="greeter")
             .sub("Dev", "greeter/in", arn).sub(arn, "greeter/out", "Dev"))
    core.deploy_ok(group)
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("greeter/out")

        def greet():
            dev.publish("greeter/in", "{}")
            return lh.expect_json(dev, "greeter/out", timeout=10)

        assert greet() == {"code": "one", "greeting": "", "cwd": "1"}

        # New code: $LATEST changes, nothing deployed moves.
        v2_zip = greeter_zip(tmp_path / "v2.zip", "two")
        latest = cli_json(core, "update-function-code", "--function-name", "Greeter",
                          "--zip-file", f"fileb://{v2_zip}")
        assert latest["Version"] == "$LATEST"
        assert latest["CodeSha256"] != v1["CodeSha256"]
        assert cli_json(core, "publish-version", "--function-name", "Greeter")["Version"] == "2"
        # Unchanged $LATEST (even re-uploading the same zip): no version 3.
        assert cli_json(core, "publish-version", "--function-name", "Greeter")["Version"] == "2"
        cli_json(core, "update-function-code", "--function-name", "Greeter", "--zip-file", v2_zip)
        assert cli_json(core, "publish-version", "--function-name", "Greeter")["Version"] == "2"
        versions = cli_json(core, "list-versions", "--function-name", "Greeter")["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
        assert greet()["code"] == "one"

        lh.fn_cli(core, "update-alias", "--function-name", "Greeter", "--name", "PROD",
                  "--function-version", "2")
        assert greet()["code"] == "one", "the alias moved the running function before a deploy"
        core.deploy_ok(group)
        assert greet() == {"code": "two", "greeting": "", "cwd": "2"}

        # New configuration: version 3 carries it; code stays version 2's.
        cfg = cli_json(core, "update-function-configuration", "--function-name", "Greeter",
                       "--environment", "Variables={GREETING=hola}")
        assert cfg["Environment"] == {"Variables": {"GREETING": "hola"}}
        assert cli_json(core, "publish-version", "--function-name", "Greeter")["Version"] == "3"
        lh.fn_cli(core, "update-alias", "--function-name", "Greeter", "--name", "PROD",
                  "--function-version", "3")
        core.deploy_ok(group)
        assert greet() == {"code": "two", "greeting": "hola", "cwd": "3"}
    finally:
        dev.close()

    # Stored code: sane modes (readable by any RunAs identity), in-tree link kept as a link.
    code = os.path.join(core.root, "functions", "Greeter", "code", "2")
    assert stat.S_IMODE(os.stat(code).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(code, "greeter.py")).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.join(code, "bin", "tool.sh")).st_mode) == 0o755
    assert os.readlink(os.path.join(code, "lib", "helper_link.py")) == "../helper.py"


def store_files(root):
    out = []
    for d, _, files in os.walk(os.path.join(root, "functions")):
        out += [os.path.join(d, f) for f in files]
    return out


def test_zip_bomb_is_refused_quickly(make_core, tmp_path):
    core = make_core()
    core.write_config()
    bomb = zip_bomb(tmp_path / "bomb.zip")
    assert os.path.getsize(bomb) < 2 * 1024 * 1024
    t0 = time.monotonic()
    r = lh.fn_cli(core, "create", "--function-name", "Bomb", "--runtime", "python3.8",
                  "--handler", "a.h", "--zip-file", bomb, check=False)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "268435456 bytes (evergreen.functions.maxUnpackedBytes)" in r.stderr, r.stderr
    assert '"bomb.bin"' in r.stderr, r.stderr
    assert took < 5, f"refusing the bomb took {took:.1f}s"
    assert not os.path.exists(os.path.join(core.root, "functions", "Bomb"))
    # A configured bound is named in the refusal of an ordinary package that exceeds it.
    core.config["evergreen"]["functions"] = {"maxUnpackedBytes": 10}
    core.write_config()
    small = write_zip(tmp_path / "small.zip", files=[("a.py", "x = 12345678901\n", 0o644)])
    r = lh.fn_cli(core, "create", "--function-name", "Small", "--runtime", "python3.8",
                  "--handler", "a.h", "--zip-file", small, check=False)
    assert r.returncode == 1 and "limit of 10 bytes" in r.stderr, r.stderr


def test_links_to_secrets_never_become_copies(make_core, tmp_path):
    core = make_core()
    core.write_config()
    secret_dir = tmp_path / "rootonly"
    secret_dir.mkdir()
    (secret_dir / "secret.txt").write_text("TOP-SECRET")
    secret_dir.chmod(0o700)

    def create(name, *src):
        return lh.fn_cli(core, "create", "--function-name", name, "--runtime", "python3.8",
                         "--handler", "a.h", *src, check=False)

    evil = write_zip(tmp_path / "evil.zip", files=[("a.py", "x = 1\n", 0o644)],
                     links=[("shadow", "/etc/shadow")])
    r = create("ZipLink", "--zip-file", evil)
    assert r.returncode == 1, r.stderr
    assert 'entry "shadow" is a symlink to the absolute path "/etc/shadow"' in r.stderr, r.stderr

    escape = write_zip(tmp_path / "escape.zip", files=[("a.py", "x = 1\n", 0o644)],
                       links=[("lib/s", "../../rootonly/secret.txt")])
    r = create("ZipEscape", "--zip-file", escape)
    assert r.returncode == 1 and "points outside the function" in r.stderr, r.stderr

    for target in ("/etc/shadow", str(secret_dir)):
        src = tmp_path / f"src-{len(target)}"
        src.mkdir()
        (src / "a.py").write_text("x = 1\n")
        os.symlink(target, src / "link")
        r = create("DirLink", "--code-dir", str(src))
        assert r.returncode == 1, r.stderr
        assert 'entry "link" is a symlink to the absolute path' in r.stderr, r.stderr

    # An existing function keeps its code when an update brings such a link.
    good = write_zip(tmp_path / "good.zip", files=[("a.py", "x = 1\n", 0o644)])
    assert create("Good", "--zip-file", good).returncode == 0
    r = lh.fn_cli(core, "update-function-code", "--function-name", "Good", "--zip-file", evil,
                  check=False)
    assert r.returncode == 1 and '"shadow"' in r.stderr, r.stderr

    files = store_files(core.root)
    assert sorted(os.path.relpath(f, core.root) for f in files) == [
        "functions/Good/code/latest/a.py", "functions/Good/function.json"]
    for f in files:
        assert "TOP-SECRET" not in open(f, errors="replace").read()
