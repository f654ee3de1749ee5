"""Helpers for the C executable tests (test_13_c_*.py): install the build tree to a temp prefix
(`cmake --install`, so only the installed greengrasssdk.h and libaws-greengrass-core-sdk-c.so are
used), build C functions from it with plain `cc`, and build a stand-in for the genuine stub
library (same SONAME and version nodes, every call prints an error and returns
GGE_RESERVED_MAX)."""

import os
import shutil
import subprocess

import evg_harness as h
import lambda_helpers as lh

EXECUTABLE_RUNTIME = "arn:aws:greengrass:::runtime/function/executable"
C_LAMBDA_SRC = os.path.join(lh.FUNCTIONS_DIR, "c_lambda", "c_lambda.c")
REPO = lh.REPO
VERSION_MAP = os.path.join(REPO, "sdk", "c", "greengrasssdk_versions.map")
LIB_NAME = "libaws-greengrass-core-sdk-c.so"

# The v1.2.0 API by version node (reference ggv1-protocol.md §4.4).
VERSION_NODES = {
    "aws_greengrass_core_sdk_c_1.0": [
        "gg_global_init", "gg_log", "gg_request_init", "gg_request_reuse", "gg_request_close",
        "gg_request_read", "gg_runtime_start", "gg_lambda_handler_read",
        "gg_lambda_handler_write_response", "gg_lambda_handler_write_error", "gg_invoke",
        "gg_publish", "gg_get_thing_shadow", "gg_update_thing_shadow", "gg_delete_thing_shadow"],
    "aws_greengrass_core_sdk_c_1.1": ["gg_get_secret_value"],
    "aws_greengrass_core_sdk_c_1.2": [
        "gg_publish_options_init", "gg_publish_options_free",
        "gg_publish_options_set_queue_full_policy", "gg_publish_with_options"],
}


def run(cmd, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def install_prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("c_prefix")
    run(["cmake", "--install", h.BUILD_DIR, "--prefix", str(prefix), "--component", "c_sdk"])
    assert (prefix / "include" / "greengrasssdk.h").is_file()
    assert (prefix / "lib" / LIB_NAME).is_file()
    return prefix


def cc():
    for c in ("cc", "gcc", "clang"):
        p = shutil.which(c)
        if p:
            return p
    raise AssertionError("no C compiler (cc) on PATH")


def build_function(prefix, out_dir, src=C_LAMBDA_SRC, name="c_lambda", lib_dir=None,
                   extra=()):
    """cc -I<prefix>/include <src> -L<lib_dir> -laws-greengrass-core-sdk-c; returns the dir."""
    os.makedirs(out_dir, exist_ok=True)
    lib_dir = lib_dir or os.path.join(prefix, "lib")
    run([cc(), "-std=c99", "-O2", "-Wall", "-Werror", "-D_DEFAULT_SOURCE",
         "-I", os.path.join(prefix, "include"), src, "-o", os.path.join(out_dir, name),
         "-L", lib_dir, "-laws-greengrass-core-sdk-c", *extra])
    return out_dir


STUB_SRC = r"""
/* Stand-in for the genuine stub library: same SONAME and version nodes; every call fails. */
#include <stdio.h>
#include "greengrasssdk.h"
#define STUB { fprintf(stderr, "ERROR: Loaded stub instead of implementation library!\n"); \
               return GGE_RESERVED_MAX; }
gg_error gg_request_reuse(gg_request r);
gg_error gg_global_init(uint32_t opt) { (void)opt; STUB }
gg_error gg_log(gg_log_level l, const char *f, ...) { (void)l; (void)f; STUB }
gg_error gg_request_init(gg_request *r) { (void)r; STUB }
gg_error gg_request_reuse(gg_request r) { (void)r; STUB }
gg_error gg_request_close(gg_request r) { (void)r; STUB }
gg_error gg_request_read(gg_request r, void *b, size_t n, size_t *a) { (void)r; (void)b; (void)n; (void)a; STUB }
gg_error gg_runtime_start(gg_lambda_handler h, uint32_t o) { (void)h; (void)o; STUB }
gg_error gg_lambda_handler_read(void *b, size_t n, size_t *a) { (void)b; (void)n; (void)a; STUB }
gg_error gg_lambda_handler_write_response(const void *b, size_t n) { (void)b; (void)n; STUB }
gg_error gg_lambda_handler_write_error(const char *m) { (void)m; STUB }
gg_error gg_get_secret_value(gg_request r, const char *s, const char *v, const char *st, gg_request_result *x) { (void)r; (void)s; (void)v; (void)st; (void)x; STUB }
gg_error gg_invoke(gg_request r, const gg_invoke_options *o, gg_request_result *x) { (void)r; (void)o; (void)x; STUB }
gg_error gg_publish_options_init(gg_publish_options *o) { (void)o; STUB }
gg_error gg_publish_options_free(gg_publish_options o) { (void)o; STUB }
gg_error gg_publish_options_set_queue_full_policy(gg_publish_options o, gg_queue_full_policy_options p) { (void)o; (void)p; STUB }
gg_error gg_publish_with_options(gg_request r, const char *t, const void *p, size_t n, const gg_publish_options o, gg_request_result *x) { (void)r; (void)t; (void)p; (void)n; (void)o; (void)x; STUB }
gg_error gg_publish(gg_request r, const char *t, const void *p, size_t n, gg_request_result *x) { (void)r; (void)t; (void)p; (void)n; (void)x; STUB }
gg_error gg_get_thing_shadow(gg_request r, const char *t, gg_request_result *x) { (void)r; (void)t; (void)x; STUB }
gg_error gg_update_thing_shadow(gg_request r, const char *t, const char *u, gg_request_result *x) { (void)r; (void)t; (void)u; (void)x; STUB }
gg_error gg_delete_thing_shadow(gg_request r, const char *t, gg_request_result *x) { (void)r; (void)t; (void)x; STUB }
"""


def build_stub(prefix, out_dir):
    """The stub library in out_dir (SONAME libaws-greengrass-core-sdk-c.so, same version map)."""
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(out_dir, "stub.c")
    with open(src, "w") as f:
        f.write(STUB_SRC)
    run([cc(), "-std=c99", "-fPIC", "-shared", "-I", os.path.join(prefix, "include"), src,
         "-o", os.path.join(out_dir, LIB_NAME), "-Wl,-soname," + LIB_NAME,
         "-Wl,--version-script=" + VERSION_MAP])
    return out_dir


def dyn_symbols(path):
    """{symbol: version node} of the gg_* symbols readelf --dyn-syms -W shows for path
    (defined symbols in a library, undefined references in an executable)."""
    out = run(["readelf", "--dyn-syms", "-W", str(path)]).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[7].startswith("gg_"):
            continue
        name = parts[7]
        sep = "@@" if "@@" in name else "@"
        base, _, node = name.partition(sep)
        syms[base] = (node, parts[6])  # (version node, section index or UND)
    return syms


def create_c_function(core, name, code_dir, handler="c_lambda", alias="PROD"):
    return lh.create_function(core, name, str(code_dir), handler, runtime=EXECUTABLE_RUNTIME,
                              alias=alias)
