# Looks around from inside its container and publishes what it saw on event["reply"]
# (default "probe/out"); also returns it (RequestResponse callers). Operations (event["op"]):
#   whoami - uid, gid, groups, pid, the pids visible in /proc, hostname, cwd, resource prefix
#   write  - tries to create a file in each of event["paths"] -> {path: "ok" | "Errno text"}
#   read   - reads each of event["paths"] -> {path: content | "Errno text"}
#   alloc  - touches event["mb"] MB of memory, then answers {"allocated": mb}
#   find   - walks event["roots"] (not into event["skip"]) for entries named in event["names"];
#            connects to each of event["sockets"] -> {"found", "home", "connect": {path: result}}
import json
import os
import socket

import greengrasssdk

iot = greengrasssdk.client('iot-data')
_keep = []


def _err(e):
    return '%s: %s' % (type(e).__name__, e.strerror if hasattr(e, 'strerror') else e)


def _whoami(event):
    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
    return {'uid': os.getuid(), 'gid': os.getgid(), 'groups': sorted(os.getgroups()),
            'pid': os.getpid(), 'proc_pids': pids, 'hostname': socket.gethostname(),
            'cwd': os.getcwd(), 'prefix': os.environ.get('AWS_GG_RESOURCE_PREFIX')}


def _write(event):
    out = {}
    for p in event['paths']:
        try:
            with open(p, 'w') as f:
                f.write('probe\n')
            out[p] = 'ok'
        except Exception as e:
            out[p] = _err(e)
    return out


def _read(event):
    out = {}
    for p in event['paths']:
        try:
            if os.path.isdir(p):
                out[p] = sorted(os.listdir(p))
            else:
                with open(p, 'rb') as f:
                    out[p] = f.read(64).decode('utf-8', 'replace')
        except Exception as e:
            out[p] = _err(e)
    return out


def _find(event):
    names, skip = set(event['names']), set(event.get('skip', []))
    found = []
    for root in event['roots']:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip]
            found += [os.path.join(d, n) for n in dirs + files if n in names]
    conn = {}
    for path in event.get('sockets', []):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            conn[path] = 'connected'
        except Exception as e:
            conn[path] = _err(e)
        finally:
            s.close()
    return {'found': sorted(found), 'home': os.environ.get('HOME'), 'connect': conn}


def handler(event, context):
    op = event.get('op')
    if op == 'whoami':
        r = _whoami(event)
    elif op == 'write':
        r = _write(event)
    elif op == 'read':
        r = _read(event)
    elif op == 'find':
        r = _find(event)
    elif op == 'alloc':
        _keep.append(b'a' * (int(event['mb']) << 20))
        r = {'allocated': event['mb']}
    else:
        r = {'error': 'unknown op %r' % op}
    r['tag'] = event.get('tag')
    iot.publish(topic=event.get('reply', 'probe/out'), payload=json.dumps(r))
    return r
