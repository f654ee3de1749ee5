"""Helpers for the Node.js function tests (test_11_node_*.py) and bench/lambda_node_bench.py.

Node functions live in tests/integration/functions/node_*/ and use the runtime ids of v1
(nodejs12.x by default). install_genuine_sdk() copies a function folder to a temp dir and installs
the genuine npm package aws-greengrass-core-sdk@1.7.0 into its node_modules with npm (cache kept in
that temp dir); the registry must be reachable (CI has it).
"""

import os
import shutil
import subprocess

import lambda_helpers as lh

GENUINE_SDK = "aws-greengrass-core-sdk@1.7.0"
NPM_TIMEOUT_S = 180


def node_binary():
    return shutil.which("node") or shutil.which("nodejs")


def create_node_function(core, name, folder, handler="index.handler", runtime="nodejs12.x",
                         **kw):
    """lh.create_function for a Node function (folder under tests/integration/functions or an
    absolute path); returns the PROD alias ARN."""
    return lh.create_function(core, name, folder, handler, runtime=runtime, **kw)


def install_genuine_sdk(folder, dest):
    """Copies functions/<folder> to dest and npm-installs the genuine SDK into dest/node_modules.
    Returns dest. Raises AssertionError naming npm's output when the install fails."""
    src = folder if os.path.isabs(folder) else os.path.join(lh.FUNCTIONS_DIR, folder)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("node_modules"))
    npm = shutil.which("npm")
    assert npm, "npm is not installed (scripts/setup.sh installs it)"
    cache = os.path.join(os.path.dirname(dest), "npm-cache")
    r = subprocess.run([npm, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
                        "--loglevel=error", "--cache", cache, "--prefix", dest, GENUINE_SDK],
                       capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    assert r.returncode == 0, f"npm install {GENUINE_SDK} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    pkg = os.path.join(dest, "node_modules", "aws-greengrass-core-sdk", "package.json")
    assert os.path.exists(pkg), f"npm did not install {GENUINE_SDK} into {dest}"
    return dest
