"""Helpers for test_18_genuine_sdks.py: functions that bundle the GENUINE v1 Core SDKs.

The SDKs are read from the shared vendor tree (never copied into the repository): by default
`<repo>/../shared/vendor` (CI clones the repository with a copy of shared/ beside it; a git
worktree falls back to the main checkout's ../shared), or `$EVERGREEN_SHARED_DIR/vendor`. A test builds each function's code directory at test time by
copying the function's own source (tests/integration/functions/...) and the genuine SDK from
there into a temp directory, as a v1 user bundles the SDK in their deployment package:

* Python: `<code>/greengrasssdk/` = vendor greengrasssdk 1.6.1 (the runtime puts the code dir
  first on sys.path, so the bundled SDK is the one imported).
* Java: a v1 deployment zip: the test classes (compiled against the genuine jar) at the root and
  the genuine `GreengrassJavaSDK.jar` under `lib/`.
* C: the genuine examples compiled unmodified against the installed greengrasssdk.h and our
  libaws-greengrass-core-sdk-c.so.
"""

import os
import shutil
import subprocess
import zipfile

import c_helpers as ch
import java_helpers as jh
import lambda_helpers as lh

SHARED_ENV = "EVERGREEN_SHARED_DIR"


def shared_dir():
    """$EVERGREEN_SHARED_DIR, else <repo>/../shared; for a git worktree without a shared/ beside
    it, <main checkout>/../shared (the main checkout = the parent of git's common directory)."""
    if os.environ.get(SHARED_ENV):
        return os.path.abspath(os.environ[SHARED_ENV])
    d = os.path.join(os.path.dirname(lh.REPO), "shared")
    if not os.path.isdir(d):
        r = subprocess.run(["git", "-C", lh.REPO, "rev-parse", "--path-format=absolute",
                            "--git-common-dir"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            main = os.path.dirname(r.stdout.strip())
            alt = os.path.join(os.path.dirname(main), "shared")
            if os.path.isdir(alt):
                d = alt
    return os.path.abspath(d)


def vendor(*parts):
    """A path under <shared>/vendor; fails (not skips) naming the path and the override when it
    is missing: these tests are the project's compatibility claim."""
    p = os.path.join(shared_dir(), "vendor", *parts)
    assert os.path.exists(p), (
        f"{p} does not exist: the genuine SDKs are read from <repo>/../shared/vendor "
        f"(set {SHARED_ENV} to the directory holding vendor/)")
    return p


PY_SDK = ("aws-greengrass-core-sdk-python", "greengrasssdk")
JAVA_JAR = ("aws-greengrass-core-sdk-java", "sdk", "GreengrassJavaSDK.jar")
C_EXAMPLES = ("aws-greengrass-core-sdk-c", "aws-greengrass-core-sdk-c-example")

GENUINE_PY_SRC = os.path.join(lh.FUNCTIONS_DIR, "genuine_py")
GENUINE_JAVA_SRC = os.path.join(os.path.dirname(lh.FUNCTIONS_DIR), "functions_genuine_java")


# ---- Python ----

def python_code_dir(dest, src=GENUINE_PY_SRC):
    """A function's code (default tests/integration/functions/genuine_py) + the vendor
    greengrasssdk package -> dest."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(vendor(*PY_SDK), os.path.join(dest, "greengrasssdk"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


# ---- Java ----

def java_zip(work):
    """The genuine-SDK Java test function as a v1 deployment zip: classes compiled against the
    genuine jar (+ our runtime jar for Context and the core-provided ipcsdk/common classes) at the
    root, the genuine jar under lib/. Returns the zip path."""
    os.makedirs(work, exist_ok=True)
    genuine_jar = vendor(*JAVA_JAR)
    runtime_jar = jh.runtime_jars()[0]  # evergreen-lambda-runtime.jar only: not our SDK
    classes = os.path.join(work, "classes")
    jh._javac(jh._sources(GENUINE_JAVA_SRC), [runtime_jar, genuine_jar], classes)
    zpath = os.path.join(work, "genuine-java.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for d, _, files in os.walk(classes):
            for f in files:
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, classes))
        z.write(genuine_jar, "lib/GreengrassJavaSDK.jar")
    return zpath


def create_java_zip_function(core, name, handler, zpath, alias="PROD"):
    lh.fn_cli(core, "create", "--function-name", name, "--runtime", jh.JAVA_RUNTIME,
              "--handler", handler, "--zip-file", zpath)
    lh.fn_cli(core, "publish-version", "--function-name", name)
    lh.fn_cli(core, "create-alias", "--function-name", name, "--name", alias,
              "--function-version", "1")
    return lh.fn_arn(name, alias)


# ---- C ----

# example source (relative to the examples dir) -> executable name
C_PROGRAMS = {
    "hello_world.c": "hello_world_example",
    "simple_handler.c": "simple_handler",
    "publish.c": "publish_example",
    "shadow.c": "shadow_example",
    "secretsmanager.c": "secretsmanager_example",
    "invoke/invoker.c": "invoker",
    "invoke/invokee.c": "invokee",
}


def build_c_examples(prefix, out_dir):
    """Compiles every genuine example unmodified with the flags of its upstream CMakeLists.txt
    (-Werror -Wall -Wextra -pedantic -std=c99 -Wc++-compat) against <prefix>/include and
    <prefix>/lib (our library). Returns out_dir (one code dir holding all executables)."""
    os.makedirs(out_dir, exist_ok=True)
    src_dir = vendor(*C_EXAMPLES)
    for src, exe in C_PROGRAMS.items():
        ch.run([ch.cc(), "-Werror", "-Wall", "-Wextra", "-pedantic", "-std=c99", "-Wc++-compat",
                "-I", os.path.join(prefix, "include"), os.path.join(src_dir, src),
                "-o", os.path.join(out_dir, exe), "-L", os.path.join(prefix, "lib"),
                "-laws-greengrass-core-sdk-c"])
    return out_dir

