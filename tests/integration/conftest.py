"""Fixtures for the black-box tests: each test gets fresh core roots (temp dirs) with free
loopback ports. The binary is $EVERGREEN_BUILD_DIR/apps/evergreen/evergreen (default
/work/main/build). Teardown sends SIGTERM and asserts exit 0 within 2 s for every core still
running."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import evg_harness as h  # noqa: E402


@pytest.fixture(scope="session")
def evergreen_bin():
    path = h.evergreen_binary()
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"evergreen binary not found at {path}: build it "
            f"(ninja -C $EVERGREEN_BUILD_DIR evergreen) or set EVERGREEN_BUILD_DIR"
        )
    return path


@pytest.fixture
def make_core(tmp_path, evergreen_bin):
    """Factory: make_core(name="core") -> h.Core (not started). All cores are stopped at
    teardown with SIGTERM and must exit 0 within 2 s."""
    cores = []

    def factory(name="core"):
        c = h.Core(tmp_path / name)
        cores.append(c)
        return c

    yield factory
    problems = []
    for c in cores:
        try:
            if c.running():
                rc, took = c.stop()
                if rc != 0:
                    problems.append(f"{c.root}: exit {rc} after SIGTERM\n{c.stderr()[-2000:]}")
                elif took > h.STOP_BOUND_S:
                    problems.append(f"{c.root}: took {took:.2f}s to stop")
        except AssertionError as e:
            problems.append(f"{c.root}: {e}")
        finally:
            c.close_files()
    assert not problems, "\n".join(problems)


# AWS-side fixtures of the token-exchange and export tests (tes_helpers): one per test module.
@pytest.fixture(scope="module")
def workdir(tmp_path_factory, request):
    return str(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))


@pytest.fixture(scope="module")
def pki(workdir):
    """A throwaway CA, the core's IoT certificate and the credentials provider's server cert."""
    import tes_helpers as th
    return th.make_pki(os.path.join(workdir, "pki"))


@pytest.fixture(scope="module")
def emulators(workdir):
    """kinesalite and s3rver from npm, started once per module."""
    import tes_helpers as th
    e = th.Emulators(workdir)
    yield e
    e.stop()


@pytest.fixture
def core(make_core):
    """A started core: TLS listener on a free port, plaintext listener on 127.0.0.1, no group."""
    return make_core().start()
