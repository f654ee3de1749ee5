"""Fixtures: a fake IPC server and a launcher for lambda_runtime.py workers."""
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUNTIME_DIR = os.path.join(REPO, 'runtime', 'python')
RUNTIME = os.path.join(RUNTIME_DIR, 'lambda_runtime.py')
LIB_DIR = os.path.join(RUNTIME_DIR, 'lib')
FUNCTIONS_DIR = os.path.join(HERE, 'functions')
# Interpreter that runs the workers (override to check other versions, e.g. a python3.7).
PYTHON = os.environ.get('EVG_TEST_PYTHON') or ('/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable)
TOKEN = 'test-token'
LEVELS = ('TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL')

ROUTER_ARN = 'arn:aws:lambda:::function:GGRouter'
SHADOW_ARN = 'arn:aws:lambda:::function:GGShadowService'
SECRETS_ARN = 'arn:aws:lambda:::function:GGSecretManager:1'

sys.path.insert(0, HERE)
from fake_ipc import FakeIpcServer  # noqa: E402


def function_arn(name, version='1'):
    return 'arn:aws:lambda:us-east-1:123456789012:function:{}:{}'.format(name, version)


class _Drain(threading.Thread):
    """Reads a pipe until EOF so the worker never blocks on a full pipe."""

    def __init__(self, fd):
        threading.Thread.__init__(self, daemon=True)
        self.fd = fd
        self.data = b''
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            with self.lock:
                self.data += chunk
        os.close(self.fd)

    def text(self):
        with self.lock:
            return self.data.decode('utf-8', 'replace')


class Worker(object):
    def __init__(self, server, handler, arn, encoding='json', log_level='DEBUG', extra_env=None,
                 code_dir=FUNCTIONS_DIR, log_pipes=True):
        self.arn = arn
        env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'PYTHONPATH': '{}:{}'.format(code_dir, LIB_DIR),
            'MY_FUNCTION_ARN': arn,
            'AWS_CONTAINER_AUTHORIZATION_TOKEN': TOKEN,
            'GG_DAEMON_PORT': str(server.port),
            'SHADOW_FUNCTION_ARN': SHADOW_ARN,
            'ROUTER_FUNCTION_ARN': ROUTER_ARN,
            'SECRETS_MANAGER_FUNCTION_ARN': SECRETS_ARN,
            'ENCODING_TYPE': encoding,
            'GGC_MAX_INTERFACE_VERSION': '1.5',
            'LOG_LEVEL': log_level,
            'AWS_REGION': 'us-east-1',
            'AWS_IOT_THING_NAME': 'thing1',
            'EVERGREEN_FUNCTION_TIMEOUT_MS': '5000',
            'EVERGREEN_MEMORY_LIMIT_MB': '32',
        }
        env.update(extra_env or {})
        self.logs = {}
        pass_fds = []
        if log_pipes:
            for level in LEVELS:
                read_fd, write_fd = os.pipe()
                env['_GG_LOG_FD_' + level] = str(write_fd)
                pass_fds.append(write_fd)
                self.logs[level] = read_fd
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([PYTHON, '-u', RUNTIME, '--handler=' + handler], cwd=code_dir, env=env,
                                     pass_fds=pass_fds, stdout=self.stdout, stderr=self.stderr)
        for fd in pass_fds:
            os.close(fd)
        self.logs = dict((level, _Drain(fd)) for level, fd in self.logs.items())

    def log(self, level):
        return self.logs[level].text()

    def wait_log(self, level, needle, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log(level):
                return True
            time.sleep(0.02)
        raise AssertionError('{!r} not in {} log: {!r}'.format(needle, level, self.log(level)))

    def output(self, stream='stdout'):
        f = getattr(self, stream)
        f.seek(0)
        return f.read().decode('utf-8', 'replace')

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for drain in self.logs.values():
            drain.join(5)


@pytest.fixture
def server():
    srv = FakeIpcServer(tokens=(TOKEN,)).start()
    yield srv
    srv.stop()


@pytest.fixture
def spawn(server):
    workers = []

    def _spawn(handler, arn=None, **kwargs):
        worker = Worker(server, handler, arn or function_arn(handler.split('.')[0]), **kwargs)
        workers.append(worker)
        return worker

    yield _spawn
    for worker in workers:
        worker.stop()
