'use strict';
// A small fake Greengrass core for the Node runtime tests: E1-E6 over HTTP/1.1 (keep-alive,
// port 0), per-ARN work queues, token checks, a record of every request, and spawnWorker()
// starting real lambda_nodejs_runtime.js workers with one pipe per log level.

const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

// EVG_NODE_RUNTIME_SCRIPT: run the same tests against another entry point (CTest
// runtime_nodejs_bundle: the one-file bundle, runtime/nodejs/make_bundle.py).
const RUNTIME = process.env.EVG_NODE_RUNTIME_SCRIPT
    || path.resolve(__dirname, '../../runtime/nodejs/lambda_nodejs_runtime.js');
const ROUTER = 'arn:aws:lambda:::function:GGRouter';
const SHADOW = 'arn:aws:lambda:::function:GGShadowService';
const SECRETS = 'arn:aws:lambda:::function:GGSecretManager:1';
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']; // fds 6,3,1,4,2,5 below
const LEVEL_FD = {
    INFO: 1, ERROR: 2, DEBUG: 3, WARN: 4, FATAL: 5, TRACE: 6,
};

class FakeCore {
    constructor() {
        this.tokens = new Map(); // token -> arn
        this.queues = new Map(); // arn -> [{id, payload, clientContext}]
        this.waiters = new Map(); // arn -> [res]
        this.results = new Map(); // id -> {body, functionError}
        this.resultWaiters = new Map(); // id -> [cb]
        this.requests = []; // {method, url, headers, body}
        this.connections = 0;
        this.responders = new Map(); // system arn -> (req) => {status, body, functionError}
        this.initialized = [];
        this.server = http.createServer((req, res) => this.handle(req, res));
        this.server.keepAliveTimeout = 60000;
        this.server.on('connection', (s) => { this.connections += 1; s.setNoDelay(true); });
    }

    async start() {
        await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
        this.port = this.server.address().port;
        return this;
    }

    async stop() {
        this.server.closeAllConnections && this.server.closeAllConnections();
        await new Promise((r) => this.server.close(r));
    }

    token(arn) {
        const t = crypto.randomBytes(8).toString('hex');
        this.tokens.set(t, arn);
        return t;
    }

    // Queues a work item for arn; returns a promise of {body: Buffer, functionError}.
    invoke(arn, payload, clientContext = '') {
        const id = crypto.randomUUID();
        this.enqueue(arn, { id, payload: Buffer.from(payload === undefined ? '' : payload), clientContext });
        return new Promise((resolve) => this.onResult(id, resolve));
    }

    enqueue(arn, item) {
        const w = this.waiters.get(arn);
        if (w && w.length) {
            this.deliver(w.shift(), item);
            return;
        }
        if (!this.queues.has(arn)) this.queues.set(arn, []);
        this.queues.get(arn).push(item);
    }

    deliver(res, item) {
        res.writeHead(200, { 'X-Amz-InvocationId': item.id, 'X-Amz-Client-Context': item.clientContext, 'Content-Length': item.payload.length });
        res.end(item.payload);
    }

    onResult(id, cb) {
        if (this.results.has(id)) {
            cb(this.results.get(id));
            return;
        }
        if (!this.resultWaiters.has(id)) this.resultWaiters.set(id, []);
        this.resultWaiters.get(id).push(cb);
    }

    complete(id, result) {
        this.results.set(id, result);
        for (const cb of this.resultWaiters.get(id) || []) cb(result);
        this.resultWaiters.delete(id);
    }

    handle(req, res) {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks);
            this.requests.push({
                method: req.method, url: req.url, headers: req.headers, body,
            });
            this.route(req, res, body);
        });
    }

    route(req, res, body) {
        const send = (status, text, headers = {}) => {
            const b = Buffer.from(text);
            res.writeHead(status, { ...headers, 'Content-Length': b.length });
            res.end(b);
        };
        const caller = this.tokens.get(req.headers.authorization);
        if (caller === undefined) return send(403, '{"errorMessage":"bad token"}');
        const m = /^\/2016-11-01\/functions\/(.+?)(\/work|\/initialized)?$/.exec(req.url);
        if (!m) return send(404, '{"errorMessage":"no route"}');
        const [, arn, suffix] = m;
        if (suffix === '/work' && req.method === 'GET') {
            if (arn !== caller) return send(403, '{"errorMessage":"not your work"}');
            const q = this.queues.get(arn);
            if (q && q.length) return this.deliver(res, q.shift());
            if (!this.waiters.has(arn)) this.waiters.set(arn, []);
            this.waiters.get(arn).push(res);
            return undefined;
        }
        if (suffix === '/work' && req.method === 'POST') {
            this.complete(req.headers['x-amz-invocationid'], { body, functionError: req.headers['x-amz-function-error'] || '' });
            return send(200, '');
        }
        if (suffix === '/initialized') {
            this.initialized.push({ arn, doc: JSON.parse(body.toString()) });
            return send(200, '');
        }
        if (req.method === 'POST') {
            const id = crypto.randomUUID();
            const responder = this.responders.get(arn);
            if (responder) {
                const r = responder({ body, headers: req.headers, caller });
                if (r.status && r.status !== 202) return send(r.status, r.body || '');
                this.complete(id, { body: Buffer.from(r.body || ''), functionError: r.functionError || '' });
            } else {
                this.enqueue(arn, { id, payload: body, clientContext: req.headers['x-amz-client-context'] || '' });
            }
            return send(202, '', { 'X-Amz-InvocationId': id });
        }
        if (req.method === 'GET') {
            const id = req.headers['x-amz-invocationid'];
            this.onResult(id, (r) => {
                res.writeHead(200, { 'X-Amz-Function-Error': r.functionError, 'Content-Length': r.body.length });
                res.end(r.body);
            });
            return undefined;
        }
        return send(405, '');
    }

    // Starts a worker for arn with code in codeDir; collects every log pipe per level.
    spawnWorker(arn, codeDir, handler, { env = {}, encoding = 'json', args } = {}) {
        const token = this.token(arn);
        const stdio = ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'];
        const child = spawn(process.execPath, args || [RUNTIME, `--handler=${handler}`], {
            cwd: codeDir,
            stdio,
            env: {
                PATH: process.env.PATH,
                MY_FUNCTION_ARN: arn,
                AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
                GG_DAEMON_PORT: String(this.port),
                ENCODING_TYPE: encoding,
                GGC_MAX_INTERFACE_VERSION: '1.5',
                ROUTER_FUNCTION_ARN: ROUTER,
                SHADOW_FUNCTION_ARN: SHADOW,
                SECRETS_MANAGER_FUNCTION_ARN: SECRETS,
                LOG_LEVEL: 'INFO',
                NODE_PATH: `${codeDir}:${path.resolve(__dirname, '../../runtime/nodejs/node_modules')}`,
                ...Object.fromEntries(LEVELS.map((l) => [`_GG_LOG_FD_${l}`, String(LEVEL_FD[l])])),
                ...env,
            },
        });
        const logs = Object.fromEntries(LEVELS.map((l) => [l, '']));
        for (const l of LEVELS) {
            child.stdio[LEVEL_FD[l]].on('data', (d) => { logs[l] += d.toString(); });
        }
        const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
        return {
            child, logs, exited, token,
        };
    }
}

async function waitFor(pred, timeoutMs = 5000, what = 'condition') {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

module.exports = {
    FakeCore, waitFor, RUNTIME, ROUTER, SHADOW, SECRETS, LEVEL_FD,
};
