'use strict';
// Real lambda_nodejs_runtime.js workers against the fake core (fake_ipc.js): the work loop,
// callback semantics, context, encodings, errors, logging, SIGTERM, startup checks, and the
// SDK's wire shapes seen from inside a worker.
// Run: node --test tests/runtime_nodejs/   (CTest: runtime_nodejs)

const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { FakeCore, waitFor } = require('./fake_ipc');

const FN = path.join(__dirname, 'fixtures', 'fn');
const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:NodeTest:7';
const json = (r) => JSON.parse(r.body.toString());

let core;
const workers = [];
test.before(async () => { core = await new FakeCore().start(); });
test.after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await core.stop();
});

function worker(handler, opts = {}) {
    const w = core.spawnWorker(opts.arn || ARN, opts.dir || FN, handler, opts);
    workers.push(w);
    return w;
}

async function stopWorker(w) {
    w.child.kill('SIGTERM');
    return w.exited;
}

test('event in -> result out, state kept across invocations, one keep-alive connection', async () => {
    const arn = `${ARN.slice(0, -2)}:101`;
    const w = worker('index.echo', { arn });
    const before = core.connections;
    const r1 = await core.invoke(arn, JSON.stringify({ a: 1 }));
    const r2 = await core.invoke(arn, '');
    assert.strictEqual(r1.functionError, '');
    assert.deepStrictEqual(json(r1).event, { a: 1 });
    assert.strictEqual(json(r1).count, 1);
    assert.deepStrictEqual(json(r2).event, {}, 'empty JSON payload -> {}');
    assert.strictEqual(json(r2).count, 2);
    assert.strictEqual(json(r2).pid, w.child.pid);
    for (let i = 0; i < 50; i += 1) await core.invoke(arn, '{}');
    assert.ok(core.connections - before <= 2, `keep-alive: ${core.connections - before} connections for 52 invocations`);
    assert.deepStrictEqual(core.initialized.find((x) => x.arn === arn).doc, { Success: true, Response: '' });
    const exit = await stopWorker(w);
    assert.deepStrictEqual(exit, { code: 0, signal: null });
    assert.match(w.logs.INFO, /Caught SIGTERM\. Stopping runtime\./);
});

test('context has the genuine fields and clientContext.Custom (capital C)', async () => {
    const arn = `${ARN.slice(0, -2)}:102`;
    worker('index.context', { arn, env: { EVERGREEN_FUNCTION_TIMEOUT_MS: '5000' } });
    const cc = Buffer.from(JSON.stringify({ custom: { subject: 'a/b' } })).toString('base64');
    const r = json(await core.invoke(arn, '{}', cc));
    assert.deepStrictEqual(Object.keys(r.context).sort(),
        ['awsRequestId', 'clientContext', 'functionName', 'functionVersion', 'invokedFunctionArn']);
    assert.strictEqual(r.context.invokedFunctionArn, arn);
    assert.strictEqual(r.context.functionName, 'NodeTest');
    assert.strictEqual(r.context.functionVersion, '102');
    assert.match(r.context.awsRequestId, /^[0-9a-f-]{36}$/);
    assert.deepStrictEqual(r.context.clientContext, { client: {}, Custom: { subject: 'a/b' }, env: {} });
    assert.ok(r.remaining > 4000 && r.remaining <= 5000, `remaining ${r.remaining}`);
    const none = json(await core.invoke(arn, '{}', 'not base64 json!'));
    assert.deepStrictEqual(none.custom, {}, 'undecodable client context -> empty Custom');
});

test('first callback wins; never calling back completes when the event loop drains', async () => {
    const arn = `${ARN.slice(0, -2)}:103`;
    worker('index.twice', { arn });
    const r = await core.invoke(arn, '{}');
    assert.strictEqual(r.functionError, '');
    assert.strictEqual(json(r), 'first');
    const r2 = await core.invoke(arn, '{}');
    assert.strictEqual(json(r2), 'first', 'later callbacks of the first invocation leaked into the second');

    const arn2 = `${ARN.slice(0, -2)}:104`;
    worker('index.neverCallsBack', { arn: arn2 });
    const t0 = Date.now();
    const n = await core.invoke(arn2, '{"x":1}');
    assert.strictEqual(n.functionError, '');
    assert.strictEqual(n.body.toString(), 'null');
    assert.ok(Date.now() - t0 >= 45, 'completed before the handler\'s timer ran');
    const n2 = await core.invoke(arn2, '{"x":2}');
    assert.strictEqual(n2.body.toString(), 'null', 'the worker serves again after a drained invocation');
});

test('Promise-returning handlers are awaited; rejections are Handled errors', async () => {
    const arn = `${ARN.slice(0, -2)}:105`;
    worker('index.asyncResult', { arn });
    assert.deepStrictEqual(json(await core.invoke(arn, '{"x":"y"}')), { async: 'y' });
    const arn2 = `${ARN.slice(0, -2)}:106`;
    worker('index.asyncReject', { arn: arn2 });
    const r = await core.invoke(arn2, '{}');
    assert.strictEqual(r.functionError, 'Handled');
    const body = json(r);
    assert.strictEqual(body.errorMessage, 'rejected on purpose');
    assert.strictEqual(body.errorType, 'E_PURPOSE');
    assert.ok(Array.isArray(body.stackTrace) && body.stackTrace.length > 0);
    assert.ok(!body.stackTrace[0].startsWith('    at '));
});

test('errors: callback(Error), callback(string), throw, unserialisable result, bad JSON payload', async () => {
    const cases = [
        ['index.fails', '{"tag":"t1"}', { errorMessage: 'boom t1', errorType: 'Error' }],
        ['index.failsWithString', '{}', { errorMessage: 'plain string error' }],
        ['index.throws', '{}', { errorMessage: 'thrown synchronously', errorType: 'TypeError' }],
        ['index.circular', '{}', { errorType: 'TypeError' }],
        ['index.echo', '{not json', { errorType: 'SyntaxError' }],
    ];
    let v = 110;
    for (const [handler, payload, expected] of cases) {
        v += 1;
        const arn = `${ARN.slice(0, -2)}:${v}`;
        const w = worker(handler, { arn });
        const r = await core.invoke(arn, payload);
        assert.strictEqual(r.functionError, 'Handled', handler);
        const body = json(r);
        for (const [k, val] of Object.entries(expected)) assert.strictEqual(body[k], val, `${handler}.${k}: ${r.body}`);
        if (handler === 'index.echo') assert.match(body.errorMessage, /^Could not parse the payload as JSON/);
        // The worker survives every one of them.
        const again = await core.invoke(arn, handler === 'index.echo' ? '{}' : payload);
        assert.ok(again.functionError === 'Handled' || again.functionError === '', handler);
        assert.strictEqual(w.child.exitCode, null, `${handler} killed the worker`);
    }
});

test('binary encoding: raw bytes in and out', async () => {
    const arn = `${ARN.slice(0, -2)}:120`;
    worker('index.binary', { arn, encoding: 'binary' });
    const input = Buffer.from([0x80, 0xfe, 0x00, 0x7b]);
    const r = await core.invoke(arn, input);
    assert.strictEqual(r.functionError, '');
    assert.deepStrictEqual(r.body, Buffer.concat([Buffer.from([0xff, 0x00]), input]));
});

test('console output goes to the per-level pipes, filtered by LOG_LEVEL', async () => {
    const arn = `${ARN.slice(0, -2)}:121`;
    const w = worker('index.logs', { arn });
    await core.invoke(arn, '{"tag":"T1"}');
    await waitFor(() => w.logs.ERROR.includes('stderr line T1'), 3000, 'stderr line');
    assert.match(w.logs.INFO, /^log line T1$/m);
    assert.match(w.logs.INFO, /^info line T1$/m);
    assert.match(w.logs.WARN, /^warn line T1$/m);
    assert.match(w.logs.ERROR, /^error line T1$/m);
    assert.doesNotMatch(w.logs.DEBUG, /debug line/, 'DEBUG is below LOG_LEVEL=INFO');
    assert.doesNotMatch(w.logs.INFO, /warn line|error line/);

    const arn2 = `${ARN.slice(0, -2)}:122`;
    const d = worker('index.logs', { arn: arn2, env: { LOG_LEVEL: 'DEBUG' } });
    await core.invoke(arn2, '{"tag":"T2"}');
    await waitFor(() => d.logs.DEBUG.includes('End RequestId'), 3000, 'debug lines');
    assert.match(d.logs.DEBUG, /^debug line T2$/m);
    assert.match(d.logs.DEBUG, /^START RequestId: [0-9a-f-]{36}$/m);
});

test('startup checks: missing environment exits 2 naming the variable', async () => {
    const w = worker('index.echo', { env: { ENCODING_TYPE: 'xml', GGC_MAX_INTERFACE_VERSION: '' } });
    const exit = await w.exited;
    assert.strictEqual(exit.code, 2);
    assert.match(w.logs.ERROR, /Missing GGC_MAX_INTERFACE_VERSION environment variable/);
    assert.match(w.logs.ERROR, /ENCODING_TYPE must be json or binary, got "xml"/);
    const w2 = worker('index.echo', { env: { AWS_CONTAINER_AUTHORIZATION_TOKEN: '' } });
    assert.strictEqual((await w2.exited).code, 2);
    assert.match(w2.logs.ERROR, /Missing AWS_CONTAINER_AUTHORIZATION_TOKEN environment variable/);
});

test('a handler that cannot be loaded is reported with E6 and exit 1', async () => {
    for (const [handler, pattern] of [['nosuchmodule.handler', /Cannot find module/], ['index.notAFunction', /not a function/],
        ['index.missing', /Handler "missing" missing/], ['noexport', /not of the form/]]) {
        const arn = `${ARN.slice(0, -2)}:130`;
        const w = worker(handler, { arn });
        const exit = await w.exited;
        assert.strictEqual(exit.code, 1, handler);
        assert.match(w.logs.ERROR, pattern, handler);
        const init = core.initialized.filter((x) => x.arn === arn).pop();
        assert.strictEqual(init.doc.Success, false);
        assert.match(init.doc.Response, /^\w*Error\(".*"\)$/s);
        core.initialized.length = 0;
    }
});

test('a bundled SDK with a newer interface version than the core is refused', async () => {
    const arn = `${ARN.slice(0, -2)}:131`;
    const w = worker('index.handler', { arn, dir: path.join(__dirname, 'fixtures', 'oldsdk') });
    assert.strictEqual((await w.exited).code, 1);
    assert.match(w.logs.ERROR, /There was a version incompatibility .*interface version 1\.9.*GGC_MAX_INTERFACE_VERSION 1\.5/);
});

test('SDK publish: Event to GGRouter with the genuine client context; callback gets the invocation id', async () => {
    const arn = `${ARN.slice(0, -2)}:140`;
    let seen;
    core.responders.set('arn:aws:lambda:::function:GGRouter', (r) => { seen = r; return { status: 202 }; });
    worker('index.publish', { arn });
    const r = json(await core.invoke(arn, JSON.stringify({ topic: 'out/t', policy: 'AllOrError' })));
    assert.match(r, /^[0-9a-f-]{36}$/, 'publish calls back with the invocation id');
    assert.strictEqual(seen.headers['x-amz-invocation-type'], 'Event');
    const cc = JSON.parse(Buffer.from(seen.headers['x-amz-client-context'], 'base64').toString());
    assert.deepStrictEqual(cc, { custom: { source: arn, subject: 'out/t', queueFullPolicy: 'AllOrError' } });
    assert.deepStrictEqual(JSON.parse(seen.body.toString()), { topic: 'out/t', policy: 'AllOrError' });
    const bad = await core.invoke(arn, JSON.stringify({ topic: 'out/t', policy: 'AllOrException' }));
    assert.strictEqual(bad.functionError, 'Handled');
    assert.match(json(bad).errorMessage, /queueFullPolicy "AllOrException" is not supported/);
});

test('SDK invoke: RequestResponse {FunctionError, StatusCode, Payload}; Event -> id; validation errors', async () => {
    const target = 'arn:aws:lambda:us-east-1:123456789012:function:Target';
    worker('index.echo', { arn: `${target}:3` });
    const arn = `${ARN.slice(0, -2)}:141`;
    worker('index.invoke', { arn });
    const ctx = Buffer.from(JSON.stringify({ custom: { k: 'v' } })).toString('base64');
    const rr = json(await core.invoke(arn, JSON.stringify({ params: { FunctionName: target, Qualifier: '3', Payload: '{"n":5}', ClientContext: ctx } })));
    assert.strictEqual(rr.data.FunctionError, '');
    assert.strictEqual(rr.data.StatusCode, 200);
    assert.deepStrictEqual(JSON.parse(rr.data.Payload).event, { n: 5 });
    const ev = json(await core.invoke(arn, JSON.stringify({ params: { FunctionName: `${target}:3`, InvocationType: 'Event', Payload: '{}' } })));
    assert.match(ev.data, /^[0-9a-f-]{36}$/);
    for (const [params, msg] of [
        [{ FunctionName: 'Target' }, /FunctionName is malformed/],
        [{ FunctionName: `${target}:3`, Qualifier: '4' }, /does not match/],
        [{ FunctionName: `${target}:3`, InvocationType: 'DryRun' }, /InvocationType 'DryRun' is incorrect/],
        [{ FunctionName: `${target}:3`, ClientContext: '%%%' }, /Client Context is invalid/],
        [{}, /"FunctionName" is a required parameter/],
    ]) {
        const e = json(await core.invoke(arn, JSON.stringify({ params })));
        assert.match(e.error, msg);
    }
});

test('SDK secrets: request shape, success text, error body -> Error(JSON.stringify(payload))', async () => {
    const arn = `${ARN.slice(0, -2)}:142`;
    let seen;
    core.responders.set('arn:aws:lambda:::function:GGSecretManager:1', (r) => {
        seen = r;
        const req = JSON.parse(r.body.toString());
        if (req.SecretId === 'known') {
            return {
                body: JSON.stringify({
                    ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:known', Name: 'known', VersionId: 'v1', SecretString: 's3cr3t', VersionStages: ['AWSCURRENT'], CreatedDate: 1700000000000,
                }),
            };
        }
        return { body: JSON.stringify({ Status: 404, Message: `Secret ${req.SecretId} not found` }) };
    });
    worker('index.secret', { arn });
    const ok = json(await core.invoke(arn, JSON.stringify({ params: { SecretId: 'known', VersionStage: 'AWSCURRENT' } })));
    assert.strictEqual(JSON.parse(ok.data).SecretString, 's3cr3t');
    assert.deepStrictEqual(JSON.parse(seen.body.toString()), { SecretId: 'known', VersionStage: 'AWSCURRENT' });
    assert.strictEqual(seen.headers['x-amz-client-context'], '');
    const parsed = json(await core.invoke(arn, JSON.stringify({ params: { SecretId: 'known', DeStringifyResultFlag: true } })));
    assert.strictEqual(parsed.data.Name, 'known');
    const missing = json(await core.invoke(arn, JSON.stringify({ params: { SecretId: 'nope' } })));
    assert.strictEqual(JSON.parse(JSON.parse(missing.error)).Status, 404);
    const vid = json(await core.invoke(arn, JSON.stringify({ params: { SecretId: 'known', VersionId: 'x' } })));
    assert.match(vid.error, /Query by VersionId is not yet supported/);
});

test('the runtime gives up with exit 3 when IPC keeps failing', async () => {
    const arn = `${ARN.slice(0, -2)}:150`;
    const w = core.spawnWorker(arn, FN, 'index.echo', { env: { GG_DAEMON_PORT: '1', EVERGREEN_RUNTIME_MAX_IPC_FAILURES: '3' } });
    workers.push(w);
    const exit = await w.exited;
    assert.strictEqual(exit.code, 3);
    assert.match(w.logs.ERROR, /Giving up after consecutive IPC failures/);
});
