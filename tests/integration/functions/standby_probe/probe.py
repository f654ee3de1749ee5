# Worker probe (test_22_standby_workers.py, test_23_fd_limit.py): reports the worker's identity,
# environment, token, cwd, argv, stdin and open-file limit as its user code sees them, on
# standby/<PROBE_NAME>/out (through the SDK: the core routes that publish by the worker's token)
# and as its result.
# Event {"exit": true}: the process exits shortly after answering (a fresh worker per invocation).
import json
import os
import resource
import stat
import sys
import threading

import greengrasssdk

print('probe module imported by pid {}'.format(os.getpid()), flush=True)
iot = greengrasssdk.client('iot-data')


def handler(event, context):
    st = os.fstat(0)
    info = {
        'pid': os.getpid(),
        'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), 'egid': os.getegid(),
        'groups': sorted(os.getgroups()),
        'env': dict(os.environ),
        'cwd': os.getcwd(),
        'files': sorted(os.listdir('.')),
        'argv': sys.argv,
        'stdin_is_char_device': stat.S_ISCHR(st.st_mode),
        'stdin_rdev': st.st_rdev,
        'nofile': list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }
    iot.publish(topic='standby/{}/out'.format(os.environ.get('PROBE_NAME', '?')),
                payload=json.dumps(info))
    if isinstance(event, dict) and event.get('exit'):
        threading.Timer(0.002, os._exit, [0]).start()
    return info
