'use strict';
// Unit tests of the runtime's pure parts and the runtime-side modules (no worker processes).

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');

const rt = require('../../runtime/nodejs/lambda_nodejs_runtime');
const common = require('../../runtime/nodejs/node_modules/aws-greengrass-common-js');
const IPCClient = require('../../runtime/nodejs/node_modules/aws-greengrass-ipc-sdk-js');

test('FunctionArnFields: user, system and ML ARNs; bad ones throw', () => {
    const f = new common.FunctionArnFields('arn:aws:lambda:us-east-1:123456789012:function:Fn:PROD');
    assert.deepStrictEqual([f.region, f.accountId, f.name, f.qualifier], ['us-east-1', '123456789012', 'Fn', 'PROD']);
    assert.strictEqual(f.unqualifiedArn, 'arn:aws:lambda:us-east-1:123456789012:function:Fn');
    assert.strictEqual(f.toArnString(), 'arn:aws:lambda:us-east-1:123456789012:function:Fn:PROD');
    const sys = new common.FunctionArnFields('arn:aws:lambda:::function:GGSecretManager:1');
    assert.deepStrictEqual([sys.region, sys.accountId, sys.name, sys.qualifier], ['', '', 'GGSecretManager', '1']);
    assert.strictEqual(new common.FunctionArnFields('arn:aws:lambda:::function:GGRouter').qualifier, undefined,
        'unqualified -> undefined (the genuine SDK then uses its Qualifier parameter)');
    assert.strictEqual(new common.FunctionArnFields('arn:aws:lambda:us-west-2:aws:function:GG-ML-INF-x').accountId, 'aws');
    assert.strictEqual(new common.FunctionArnFields('arn:aws-cn:lambda:cn-north-1:1:function:F:$LATEST').qualifier, '$LATEST');
    for (const bad of ['Fn', 'arn:aws:lambda:us-east-1:1:function:', 'arn:aws:s3:::bucket', '', 42, null,
        `arn:aws:lambda:r:1:function:${'x'.repeat(3000)}`]) {
        assert.throws(() => new common.FunctionArnFields(bad), Error, String(bad).slice(0, 40));
    }
    assert.strictEqual(common.buildFunctionArn('arn:aws:lambda:r:1:function:F', '3'), 'arn:aws:lambda:r:1:function:F:3');
    assert.strictEqual(common.buildFunctionArn('arn:aws:lambda:r:1:function:F', undefined), 'arn:aws:lambda:r:1:function:F');
});

test('envVars, encodingType and versionParser have the genuine names', () => {
    for (const k of ['MY_FUNCTION_ARN', 'AUTH_TOKEN', 'SHADOW_FUNCTION_ARN', 'ROUTER_FUNCTION_ARN',
        'SECRETS_MANAGER_FUNCTION_ARN', 'ENCODING_TYPE', 'GGC_MAX_INTERFACE_VERSION']) {
        assert.ok(Object.prototype.hasOwnProperty.call(common.envVars, k), k);
    }
    assert.deepStrictEqual(common.encodingType, { encodingTypeJSON: 'json', encodingTypeBinary: 'binary' });
    assert.deepStrictEqual(common.versionParser.parseVersion('1.5'), { major: 1, minor: 5 });
    assert.throws(() => common.versionParser.parseVersion('1.x'), /Invalid interface version/);
    assert.ok(common.versionParser.isCompatible('1.5', '1.5'));
    assert.ok(common.versionParser.isCompatible('1.0', '1.5'));
    assert.ok(!common.versionParser.isCompatible('1.6', '1.5'));
    assert.ok(!common.versionParser.isCompatible('2.0', '1.5'));
    assert.strictEqual(typeof common.logging.LocalWatchLogger, 'function');
    assert.strictEqual(typeof common.BackoffRetry, 'function');
});

test('BackoffRetry: exponential, capped, gives up after maxAttempts, succeeds in between', async () => {
    const r = new common.BackoffRetry({ initialDelayMs: 1, multiplier: 2, maxDelayMs: 4, maxAttempts: 5 });
    assert.deepStrictEqual([1, 2, 3, 4, 5].map((n) => r.delayFor(n)), [1, 2, 4, 4, 4]);
    let calls = 0;
    const err = await new Promise((resolve) => r.run((done) => { calls += 1; done(new Error(`fail ${calls}`)); }, resolve));
    assert.strictEqual(calls, 5);
    assert.strictEqual(err.message, 'fail 5');
    calls = 0;
    const res = await new Promise((resolve) => r.run((done) => { calls += 1; done(calls < 3 ? new Error('x') : null, 'ok', 7); },
        (e, a, b) => resolve([e, a, b])));
    assert.deepStrictEqual(res, [null, 'ok', 7]);
    assert.throws(() => new common.BackoffRetry({ maxAttempts: -1 }), /maxAttempts/);
});

test('LogSink: routes by level, falls back between fds, filters by LOG_LEVEL, rejects bad values', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evg-node-log-'));
    const open = (n) => fs.openSync(path.join(dir, n), 'w');
    const fds = { INFO: open('info'), WARN: open('warn'), DEBUG: open('debug') };
    const sink = new common.logging.LogSink({ fds, minLevel: 'DEBUG' });
    assert.strictEqual(sink.fdByLevel.ERROR, fds.WARN, 'ERROR without fd -> WARN');
    assert.strictEqual(sink.fdByLevel.FATAL, fds.WARN);
    assert.strictEqual(sink.fdByLevel.TRACE, fds.DEBUG);
    sink.write('INFO', 'i1');
    sink.write('ERROR', 'e1\nsecond line');
    sink.write('DEBUG', 'd1');
    assert.strictEqual(sink.write('TRACE', 't1'), false, 'TRACE is below DEBUG');
    const read = (n) => fs.readFileSync(path.join(dir, n), 'utf8');
    assert.strictEqual(read('info'), 'i1\n');
    assert.strictEqual(read('warn'), 'e1\nsecond line\n');
    assert.strictEqual(read('debug'), 'd1\n');
    assert.throws(() => new common.logging.LogSink({ minLevel: 'LOUD' }), /LOG_LEVEL must be one of/);
    assert.throws(() => common.logging.levelFdsFromEnv({ _GG_LOG_FD_INFO: 'one' }), /_GG_LOG_FD_INFO must be an integer/);
    assert.deepStrictEqual(common.logging.levelFdsFromEnv({ _GG_LOG_FD_INFO: '1', _GG_LOG_FD_ERROR: '2' }), { INFO: 1, ERROR: 2 });
    const closed = fs.openSync(path.join(dir, 'closed'), 'w');
    fs.closeSync(closed);
    assert.strictEqual(new common.logging.LogSink({ fds: { INFO: closed } }).write('INFO', 'x'), false, 'EBADF never throws');
    fs.rmSync(dir, { recursive: true });
});

test('runtime helpers: handler argument, environment checks, event/result/error encodings', () => {
    assert.strictEqual(rt.parseHandlerArg(['--handler=index.handler']), 'index.handler');
    assert.strictEqual(rt.parseHandlerArg(['--handler', 'a.b.c']), 'a.b.c');
    assert.strictEqual(rt.parseHandlerArg([]), undefined);
    assert.deepStrictEqual(rt.splitHandler('foo.bar.handler_name'), { moduleName: 'foo.bar', exportName: 'handler_name' });
    for (const bad of ['handler', '.h', 'm.', '']) assert.throws(() => rt.splitHandler(bad), /not of the form/);
    const good = {
        MY_FUNCTION_ARN: 'a', AWS_CONTAINER_AUTHORIZATION_TOKEN: 't', ENCODING_TYPE: 'json', GGC_MAX_INTERFACE_VERSION: '1.5',
    };
    assert.deepStrictEqual(rt.checkEnvironment(good, 'index.h'), []);
    assert.deepStrictEqual(rt.checkEnvironment({ ...good, MY_FUNCTION_ARN: '' }, 'index.h'), ['Missing MY_FUNCTION_ARN environment variable']);
    assert.deepStrictEqual(rt.checkEnvironment({ ...good, ENCODING_TYPE: 'cbor' }, undefined),
        ['Missing --handler=<module>.<export> argument', 'ENCODING_TYPE must be json or binary, got "cbor"']);

    assert.deepStrictEqual(rt.decodeEvent(Buffer.from(''), false), {});
    assert.deepStrictEqual(rt.decodeEvent(Buffer.from('[1]'), false), [1]);
    assert.throws(() => rt.decodeEvent(Buffer.from('{x'), false), SyntaxError);
    const raw = Buffer.from([0xff]);
    assert.strictEqual(rt.decodeEvent(raw, true), raw);

    assert.strictEqual(rt.encodeResult(undefined, false).toString(), 'null');
    assert.strictEqual(rt.encodeResult({ a: [1] }, false).toString(), '{"a":[1]}');
    assert.strictEqual(rt.encodeResult('s', false).toString(), '"s"');
    assert.deepStrictEqual(rt.encodeResult(undefined, true), Buffer.alloc(0));
    assert.strictEqual(rt.encodeResult('text', true).toString(), 'text');
    assert.deepStrictEqual(rt.encodeResult(new Uint8Array([1, 2]), true), Buffer.from([1, 2]));
    assert.strictEqual(rt.encodeResult({ j: 1 }, true).toString(), '{"j":1}');
    assert.throws(() => rt.encodeResult(10n, false), TypeError);

    const e = new RangeError('out of range');
    const body = rt.errorBody(e);
    assert.strictEqual(body.errorMessage, 'out of range');
    assert.strictEqual(body.errorType, 'RangeError');
    assert.ok(body.stackTrace.length > 0 && body.stackTrace.every((l) => !l.startsWith('    at ')));
    const coded = Object.assign(new Error('m'), { code: 'ECODE' });
    assert.strictEqual(rt.errorBody(coded).errorType, 'ECODE');
    assert.deepStrictEqual(rt.errorBody(null), { errorMessage: null });
    assert.deepStrictEqual(rt.errorBody('s'), { errorMessage: 's' });
    assert.deepStrictEqual(rt.errorBody({ reason: 1 }), { errorMessage: '{"reason":1}' });
    assert.strictEqual(rt.errorBody(new Error('x'.repeat(70000))).errorMessage.length, 64 * 1024);

    const cc = Buffer.from(JSON.stringify({ custom: { subject: 't' }, client: { installation_id: 'i' }, env: { e: 1 } })).toString('base64');
    assert.deepStrictEqual(rt.decodeClientContext(cc), { client: { installation_id: 'i' }, Custom: { subject: 't' }, env: { e: 1 } });
    const warnings = [];
    assert.deepStrictEqual(rt.decodeClientContext(Buffer.from('[1]').toString('base64'), (m) => warnings.push(m)),
        { client: {}, Custom: {}, env: {} });
    assert.strictEqual(warnings.length, 1);
    assert.deepStrictEqual(rt.decodeClientContext(''), { client: {}, Custom: {}, env: {} });

    assert.strictEqual(rt.envInt({ X: '5' }, 'X', 1, 0), 5);
    assert.strictEqual(rt.envInt({ X: '-5' }, 'X', 1, 0), 1);
    assert.strictEqual(rt.envInt({ X: 'abc' }, 'X', 1, 0), 1);
    assert.strictEqual(rt.envInt({}, 'X', 9, 0), 9);
});

// A scripted raw-socket server: answers each request with the next canned response.
function scriptedServer(responses) {
    const seen = [];
    const sockets = new Set();
    const server = net.createServer((sock) => {
        sockets.add(sock);
        let buf = '';
        sock.on('data', (d) => {
            buf += d.toString('latin1');
            let end;
            while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
                const head = buf.slice(0, end);
                const len = Number((/content-length: (\d+)/i.exec(head) || [0, 0])[1]);
                if (buf.length < end + 4 + len) return;
                seen.push({ head, body: buf.slice(end + 4, end + 4 + len) });
                buf = buf.slice(end + 4 + len);
                const r = responses.shift();
                if (r === 'close') { sock.destroy(); return; }
                sock.write(Buffer.from(r, 'latin1'));
                if (r.includes('Connection: close')) sock.end();
            }
        });
    });
    const close = () => { for (const sock of sockets) sock.destroy(); server.close(); };
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
        server, seen, close, port: server.address().port,
    })));
}

test('IPCClient: headers, chunked bodies, function error header, HTTP errors, bad header values', async () => {
    const s = await scriptedServer([
        'HTTP/1.1 202 Accepted\r\nX-Amz-InvocationId: id-1\r\nContent-Length: 0\r\n\r\n',
        'HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Handled\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\x00',
        'HTTP/1.1 429 Too Many Requests\r\nContent-Length: 11\r\n\r\nqueue full!',
    ]);
    const c = new IPCClient('tok', { port: s.port });
    const arn = 'arn:aws:lambda:::function:GGRouter';
    const id = await new Promise((res, rej) => c.postWork(arn, 'p', 'Y2M=', 'Event', (e, v) => (e ? rej(e) : res(v))));
    assert.strictEqual(id, 'id-1');
    assert.match(s.seen[0].head, /^POST \/2016-11-01\/functions\/arn:aws:lambda:::function:GGRouter HTTP\/1\.1/);
    assert.match(s.seen[0].head, /\r\nAuthorization: tok/);
    assert.match(s.seen[0].head, /\r\nX-Amz-Invocation-Type: Event/);
    assert.match(s.seen[0].head, /\r\nX-Amz-Client-Context: Y2M=/);
    assert.strictEqual(s.seen[0].body, 'p');
    const r = await new Promise((res) => c.getWorkResult(arn, 'id-1', (...a) => res(a)));
    assert.deepStrictEqual(r, [null, '{"a":1}', 'Handled', 200]);
    assert.match(s.seen[1].head, /\r\nX-Amz-InvocationId: id-1/);
    const bin = await new Promise((res) => c.getWorkResult(arn, 'id-2', (...a) => res(a)));
    assert.ok(Buffer.isBuffer(bin[1]), 'non-UTF-8 payloads stay Buffers');
    assert.deepStrictEqual(bin[1], Buffer.from([0xff, 0x00]));
    assert.strictEqual(bin[2], '', 'absent X-Amz-Function-Error -> ""');
    const err = await new Promise((res) => c.postWork(arn, '', '', 'Event', (e) => res(e)));
    assert.strictEqual(err.statusCode, 429);
    assert.match(err.message, /HTTP Error 429: Too Many Requests queue full!/);
    const bad = await new Promise((res) => c.postWork(arn, '', 'a\r\nX-Evil: 1', 'Event', (e) => res(e)));
    assert.match(bad.message, /Invalid value for header X-Amz-Client-Context/);
    assert.strictEqual(s.seen.length, 4, 'the bad request was never sent');
    s.close();
});

test('IPCClient: connection refused is an error, never a throw', async () => {
    const c = new IPCClient('tok', { port: 1 });
    const e = await new Promise((res) => c.getWork('arn:aws:lambda:r:1:function:F:1', (err) => res(err)));
    assert.strictEqual(e.code, 'ECONNREFUSED');
});

test('our aws-greengrass-core-sdk exports the genuine interface', () => {
    const sdk = require('../../runtime/nodejs/node_modules/aws-greengrass-core-sdk');
    assert.strictEqual(sdk.GreengrassInterfaceVersion, '1.5');
    for (const k of ['Lambda', 'IotData', 'SecretsManager']) assert.strictEqual(typeof sdk[k], 'function', k);
    const iot = new sdk.IotData();
    for (const m of ['publish', 'getThingShadow', 'updateThingShadow', 'deleteThingShadow']) assert.strictEqual(typeof iot[m], 'function');
    assert.throws(() => new sdk.StreamManager.StreamManagerClient(), /bundle the genuine/);
});

test('IPCClient: postWorkResultAndGetWork pipelines E4 + E3 on one connection', async () => {
    const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    const work = (id) => `HTTP/1.1 200 OK\r\nX-Amz-InvocationId: ${id}\r\nX-Amz-Client-Context: Y2M=\r\nContent-Length: 2\r\n\r\nw${id}`;
    const s = await scriptedServer([
        ok, work('1'), // answered one by one
        ok + work('2'), '', // both answers in one segment
        'HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nunknown', work('3'), // the result refused
        ok, 'close', // the result is in, then the server drops the connection
    ]);
    const c = new IPCClient('tok', { port: s.port });
    const arn = 'arn:aws:lambda:r:1:function:F:1';
    const pair = (id) => new Promise((res) => c.postWorkResultAndGetWork(arn, Buffer.from(`r${id}`), id, (...a) => res(a)));
    let r = await pair('a');
    assert.deepStrictEqual([r[0], r[1], r[2].toString(), r[3], r[4]], [null, null, 'w1', '1', 'Y2M=']);
    r = await pair('b');
    assert.deepStrictEqual([r[0], r[1], r[2].toString(), r[3]], [null, null, 'w2', '2']);
    r = await pair('c'); // the result refused, but the poll got work: it is returned
    assert.deepStrictEqual([r[0], r[1], r[2].toString(), r[3], r[5].statusCode], [null, null, 'w3', '3', 404]);
    r = await pair('d');
    assert.strictEqual(r[0], null);
    assert.match(r[1].message, /closed the connection after the result/);
    const heads = s.seen.map((q) => q.head.split('\r\n')[0]);
    assert.deepStrictEqual(heads.slice(0, 4), [`POST /2016-11-01/functions/${arn}/work HTTP/1.1`, `GET /2016-11-01/functions/${arn}/work HTTP/1.1`,
        `POST /2016-11-01/functions/${arn}/work HTTP/1.1`, `GET /2016-11-01/functions/${arn}/work HTTP/1.1`]);
    assert.deepStrictEqual(s.seen.filter((q) => q.head.startsWith('POST')).map((q) => q.body), ['ra', 'rb', 'rc', 'rd']);
    assert.ok(s.seen[0].head.includes('X-Amz-InvocationId: a'));
    s.close();
});

test('IPCClient: a kept-alive connection closed by the server is retried once on a new one', async () => {
    const s = await scriptedServer([
        'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: w1\r\nContent-Length: 2\r\n\r\n{}',
        'close',
        'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: w2\r\nContent-Length: 4\r\n\r\n[1,2',
        'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nread to close',
    ]);
    const c = new IPCClient('tok', { port: s.port });
    const arn = 'arn:aws:lambda:r:1:function:F:1';
    const get = () => new Promise((res) => c.getWork(arn, (...a) => res(a)));
    const first = await get();
    assert.deepStrictEqual([first[0], first[1].toString(), first[2]], [null, '{}', 'w1']);
    const second = await get(); // reused socket is closed by the server -> retried on a new one
    assert.deepStrictEqual([second[0], second[1].toString(), second[2]], [null, '[1,2', 'w2']);
    const third = await get();
    assert.deepStrictEqual([third[0], third[1].toString()], [null, 'read to close']);
    assert.strictEqual(s.seen.length, 4);
    s.close();
});
