"""ABI compatibility of libaws-greengrass-core-sdk-c.so (reference ggv1-protocol.md §4.4): the
installed library's SONAME and symbol version nodes (readelf), a C89 compile of the installed
header, and a binary linked against a STUB library with the same SONAME and version nodes (and
a RUNPATH pointing at it, as binaries built against the genuine stub have) that runs against
Evergreen's library when deployed, because the supervisor puts ours first on LD_LIBRARY_PATH."""

import os
import subprocess

import pytest

import c_helpers as ch
import evg_harness as h
import lambda_helpers as lh


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    return ch.install_prefix(tmp_path_factory)


def test_installed_library_soname_and_version_nodes(prefix):
    lib = prefix / "lib" / ch.LIB_NAME
    dyn = ch.run(["readelf", "-d", "-W", str(lib)]).stdout
    assert f"Library soname: [{ch.LIB_NAME}]" in dyn, dyn
    syms = ch.dyn_symbols(lib)
    expected = {s: node for node, names in ch.VERSION_NODES.items() for s in names}
    assert {s: v[0] for s, v in syms.items()} == expected, syms
    assert all(v[1] != "UND" for v in syms.values()), syms  # all defined here
    vd = ch.run(["readelf", "-V", "-W", str(lib)]).stdout
    for node in ch.VERSION_NODES:
        assert node in vd, vd
    # Internal helpers stay hidden.
    all_syms = ch.run(["readelf", "--dyn-syms", "-W", str(lib)]).stdout
    assert "gg_http_response_feed" not in all_syms and "gg_buf_append" not in all_syms
    # The copy the supervisor puts on LD_LIBRARY_PATH.
    assert (prefix / "lib" / "evergreen" / "runtime" / "executable" / ch.LIB_NAME).is_file()


def test_function_binary_records_needed_and_versioned_references(prefix, tmp_path):
    code = ch.build_function(prefix, str(tmp_path / "code"))
    exe = os.path.join(code, "c_lambda")
    dyn = ch.run(["readelf", "-d", "-W", exe]).stdout
    assert f"Shared library: [{ch.LIB_NAME}]" in dyn, dyn
    syms = ch.dyn_symbols(exe)
    assert syms["gg_publish_with_options"] == ("aws_greengrass_core_sdk_c_1.2", "UND"), syms
    assert syms["gg_runtime_start"] == ("aws_greengrass_core_sdk_c_1.0", "UND"), syms


def test_header_is_c89(prefix, tmp_path):
    src = tmp_path / "c89.c"
    src.write_text(
        '#include "greengrasssdk.h"\n'
        "static void h(const gg_lambda_context *c) { (void)c; }\n"
        "int main(void) {\n"
        "  gg_invoke_options o; gg_request_result r; gg_publish_options p = 0;\n"
        "  gg_lambda_handler f = h; gg_request q = 0;\n"
        "  (void)o; (void)r; (void)p; (void)f; (void)q;\n"
        "  return (int)GGE_TERMINATE + (int)GG_QUEUE_FULL_POLICY_ALL_OR_ERROR + (int)GG_LOG_FATAL;\n"
        "}\n")
    ch.run([ch.cc(), "-std=c89", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
            "-I", str(prefix / "include"), str(src)])
    # Enum values and struct layout facts the ABI depends on.
    probe = tmp_path / "probe.c"
    probe.write_text(
        '#include <stdio.h>\n#include <stddef.h>\n#include "greengrasssdk.h"\n'
        "int main(void) {\n"
        '  printf("%d %d %d %d %d %d %d %lu %lu %lu\\n", GGE_TERMINATE, GGE_RESERVED_MAX,\n'
        "    GG_REQUEST_AGAIN, GG_INVOKE_REQUEST_RESPONSE, GG_RT_OPT_ASYNC, GG_LOG_FATAL,\n"
        "    GG_QUEUE_FULL_POLICY_ALL_OR_ERROR, (unsigned long)offsetof(gg_invoke_options, type),\n"
        "    (unsigned long)offsetof(gg_invoke_options, payload_size),\n"
        "    (unsigned long)sizeof(gg_lambda_context));\n"
        "  return 0;\n}\n")
    ch.run([ch.cc(), "-std=c89", "-I", str(prefix / "include"), str(probe), "-o",
            str(tmp_path / "probe")])
    out = ch.run([str(tmp_path / "probe")]).stdout.split()
    assert out == ["5", "6", "4", "1", "1", "5", "1", "24", "40", "16"], out


def test_stub_linked_binary_runs_against_our_library(make_core, prefix, tmp_path):
    stub_dir = ch.build_stub(prefix, str(tmp_path / "stub"))
    code = ch.build_function(prefix, str(tmp_path / "code"), lib_dir=stub_dir,
                             extra=["-Wl,-rpath," + stub_dir, "-Wl,--enable-new-dtags"])
    exe = os.path.join(code, "c_lambda")
    dyn = ch.run(["readelf", "-d", "-W", exe]).stdout
    assert f"Library runpath: [{stub_dir}]" in dyn, dyn
    # Run directly it loads the stub through its RUNPATH: gg_global_init fails (exit 10).
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    r = subprocess.run([exe], capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 10, (r.returncode, r.stderr)
    assert "Loaded stub instead of implementation library" in r.stderr

    core = lh.lambda_core(make_core)
    fn = ch.create_c_function(core, "CStubBuilt", code)
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(fn, encoding="binary")
                   .sub("Dev", "s/in", fn).sub(fn, "c/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("c/out")
        dev.publish("s/in", "echo runs-on-evergreen")
        assert lh.expect_on(dev, "c/out").payload == b"c-echo:runs-on-evergreen"
    finally:
        dev.close()
    log = lh.wait_file_contains(lh.user_log_path(core, "CStubBuilt"), ["c_lambda starting"])
    assert "Loaded stub" not in log


def test_deploy_refuses_missing_or_unsafe_executable(make_core, prefix, tmp_path):
    code = ch.build_function(prefix, str(tmp_path / "code"))
    core = lh.lambda_core(make_core)
    missing = ch.create_c_function(core, "CMissing", code, handler="no_such_binary")
    r = core.deploy(lh.LambdaGroup().function(missing, encoding="binary"))
    assert r.returncode != 0
    assert "no_such_binary" in (r.stderr + r.stdout), r.stderr
