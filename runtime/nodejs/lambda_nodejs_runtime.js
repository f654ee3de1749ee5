'use strict';
// Evergreen Node.js function runtime (reference §2.1, §2.3, §4.2).
//
// Started by the core as
//   node <prefix>/lib/evergreen/runtime/nodejs/lambda_nodejs_runtime.js --handler=<module>.<export>
// with cwd = the function's code directory, NODE_PATH = <code dir>:<this dir>/node_modules and
// the environment of reference §1.2.
//
// Flow:
//   1. startup checks as the genuine runtime (MY_FUNCTION_ARN, AWS_CONTAINER_AUTHORIZATION_TOKEN,
//      ENCODING_TYPE in {json, binary}, GGC_MAX_INTERFACE_VERSION); route console.* to the
//      per-level log pipes; SIGTERM -> "Caught SIGTERM. Stopping runtime." and exit 0;
//      `aws-greengrass-common-js` / `aws-greengrass-ipc-sdk-js` always resolve to ours.
//   2. a bundled aws-greengrass-core-sdk must have a compatible GreengrassInterfaceVersion;
//      load the handler; report the outcome with E6; exit 1 on failure.
//   3. loop: E3 long poll -> event (json: parsed, {} when empty; binary: Buffer) + context ->
//      handler(event, context, callback). The first callback wins; a returned Promise is
//      awaited; a handler that never calls back completes with (undefined, undefined) when the
//      event loop drains ('beforeExit'). -> E4 with the result (json: JSON text, `null` for
//      undefined; binary: raw bytes), or E5 (X-Amz-Function-Error: Handled) with
//      {"errorMessage", "errorType", "stackTrace"}.
//   IPC failures are retried with exponential backoff; after EVERGREEN_RUNTIME_MAX_IPC_FAILURES in
//   a row the runtime exits 3 (the core restarts it).

const fs = require('fs');
const Module = require('module');
const path = require('path');
const util = require('util');

const RUNTIME_DIR = __dirname;
const RUNTIME_MODULES_DIR = path.join(RUNTIME_DIR, 'node_modules');
const RUNTIME_SIDE_MODULES = Object.freeze(['aws-greengrass-common-js', 'aws-greengrass-ipc-sdk-js']);

const EXIT_OK = 0;
const EXIT_INIT_FAILURE = 1;
const EXIT_BAD_ENVIRONMENT = 2;
const EXIT_IPC_FAILURE = 3;

// Named bounds (overridable through the environment where noted).
const DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES = 30; // EVERGREEN_RUNTIME_MAX_IPC_FAILURES (0 = never give up)
const DEFAULT_FUNCTION_TIMEOUT_MS = 3000; // EVERGREEN_FUNCTION_TIMEOUT_MS (v1 default: 3 s)
const BACKOFF_INITIAL_MS = 50;
const BACKOFF_MAX_MS = 2000;
const MAX_STACK_FRAMES = 50;
const MAX_ERROR_MESSAGE_CHARS = 64 * 1024;
const DEFAULT_SDK_INTERFACE_VERSION = '1.0';
const MIN_NODE_MAJOR = 12;

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for the unit tests).

function parseHandlerArg(argv) {
    for (let i = 0; i < argv.length; i += 1) {
        if (argv[i].startsWith('--handler=')) return argv[i].slice('--handler='.length);
        if (argv[i] === '--handler' && i + 1 < argv.length) return argv[i + 1];
    }
    return undefined;
}

// "foo.bar.handler_name" -> { moduleName: "foo.bar", exportName: "handler_name" }.
function splitHandler(handler) {
    const dot = handler ? handler.lastIndexOf('.') : -1;
    if (dot <= 0 || dot === handler.length - 1) {
        throw new Error(`Handler "${handler}" is not of the form <module>.<export>`);
    }
    return { moduleName: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

// The genuine runtime's startup checks; returns the list of problems (empty when fine).
function checkEnvironment(env, handler) {
    const problems = [];
    if (!handler) problems.push('Missing --handler=<module>.<export> argument');
    for (const [name, label] of [['MY_FUNCTION_ARN', 'MY_FUNCTION_ARN'],
        ['AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN'],
        ['ENCODING_TYPE', 'ENCODING_TYPE'], ['GGC_MAX_INTERFACE_VERSION', 'GGC_MAX_INTERFACE_VERSION']]) {
        if (!env[name]) problems.push(`Missing ${label} environment variable`);
    }
    if (env.ENCODING_TYPE && env.ENCODING_TYPE !== 'json' && env.ENCODING_TYPE !== 'binary') {
        problems.push(`ENCODING_TYPE must be json or binary, got "${env.ENCODING_TYPE}"`);
    }
    return problems;
}

// context.clientContext from the base64(JSON) X-Amz-Client-Context header (genuine shape:
// { client: {}, Custom: <custom or {}>, env: {} }). Undecodable contexts give the empty shape
// and a warning through `warn`.
function decodeClientContext(header, warn) {
    const out = { client: {}, Custom: {}, env: {} };
    if (!header) return out;
    let doc;
    try {
        doc = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    } catch (e) {
        if (warn) warn(`Ignoring client context that is not base64 JSON: ${e.message}`);
        return out;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        if (warn) warn('Ignoring client context that is not a JSON object');
        return out;
    }
    if (doc.client && typeof doc.client === 'object') out.client = doc.client;
    const custom = doc.custom !== undefined ? doc.custom : doc.Custom;
    if (custom && typeof custom === 'object') out.Custom = custom;
    if (doc.env && typeof doc.env === 'object') out.env = doc.env;
    return out;
}

// The handler's event from the work payload (throws SyntaxError for invalid JSON).
function decodeEvent(payload, binary) {
    if (binary) return payload;
    if (payload.length === 0) return {};
    return JSON.parse(payload.toString('utf8'));
}

// E4 body for a handler's result (throws when it can't be serialised, e.g. cycles or BigInt).
function encodeResult(result, binary) {
    if (binary) {
        if (result === undefined || result === null) return Buffer.alloc(0);
        if (Buffer.isBuffer(result)) return result;
        if (typeof result === 'string') return Buffer.from(result, 'utf8');
        if (ArrayBuffer.isView(result)) return Buffer.from(result.buffer, result.byteOffset, result.byteLength);
        if (result instanceof ArrayBuffer) return Buffer.from(result);
    }
    const text = JSON.stringify(result);
    return Buffer.from(text === undefined ? 'null' : text, 'utf8');
}

// E5 body for what the handler passed as its error (genuine rules, reference §2.1 step 6):
// Error -> {errorMessage, errorType, stackTrace: frames without "    at "}; null/undefined ->
// {errorMessage: null}; anything else -> {errorMessage: String(x)}. errorType is err.code when
// set (genuine), else err.name (Evergreen addition; cloud Lambda's field).
function errorBody(err) {
    if (err === null || err === undefined) return { errorMessage: null };
    if (err instanceof Error || (typeof err === 'object' && typeof err.message === 'string' && typeof err.stack === 'string')) {
        let message = String(err.message);
        if (message.length > MAX_ERROR_MESSAGE_CHARS) message = message.slice(0, MAX_ERROR_MESSAGE_CHARS);
        const frames = String(err.stack || '').split('\n')
            .filter((l) => l.startsWith('    at '))
            .map((l) => l.slice('    at '.length))
            .slice(0, MAX_STACK_FRAMES);
        const body = { errorMessage: message, errorType: err.code !== undefined ? String(err.code) : (err.name || 'Error'), stackTrace: frames };
        return body;
    }
    let text;
    try {
        text = typeof err === 'object' ? JSON.stringify(err) : String(err);
    } catch (e) {
        text = util.inspect(err);
    }
    return { errorMessage: text };
}

function envInt(env, name, fallback, minimum, warn) {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < minimum) {
        if (warn) warn(`${name} must be an integer >= ${minimum}, got "${raw}"; using ${fallback}`);
        return fallback;
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// Process set-up.

// `aws-greengrass-common-js` and `aws-greengrass-ipc-sdk-js` always resolve to ours (they speak to
// this core), even when a function bundles stale copies; everything else resolves normally.
// With `oursForSdk` (the function bundles no SDK), require('aws-greengrass-core-sdk') is pinned to
// ours as well, which is where NODE_PATH would lead after a longer search.
function pinRuntimeSideModules(oursForSdk) {
    const original = Module._resolveFilename;
    const names = oursForSdk ? [...RUNTIME_SIDE_MODULES, 'aws-greengrass-core-sdk'] : RUNTIME_SIDE_MODULES;
    const pinned = new Map(names.map((name) => [name, path.join(RUNTIME_MODULES_DIR, name, 'index.js')]));
    Module._resolveFilename = function resolveFilename(request, ...rest) {
        const target = pinned.get(request);
        return target !== undefined ? target : original.call(this, request, ...rest);
    };
}

// console.log/info -> INFO, console.debug -> DEBUG, console.warn -> WARN, console.error -> ERROR
// (genuine redirect.js). process.stdout/stderr are the INFO/ERROR pipes themselves.
function redirectConsole(sink) {
    const route = (level) => (...args) => {
        if (sink.enabled(level)) sink.write(level, util.format(...args));
    };
    console.log = route('INFO');
    console.info = route('INFO');
    console.debug = route('DEBUG');
    console.warn = route('WARN');
    console.error = route('ERROR');
}

// ---------------------------------------------------------------------------------------------
// The work loop.

class Runtime {
    constructor({
        ipc, functionArn, handler, handlerThis, binary, arnFields, timeoutMs, maxConsecutiveFailures, logger, BackoffRetry,
    }) {
        this.ipc = ipc;
        this.functionArn = functionArn;
        this.handler = handler;
        this.handlerThis = handlerThis;
        this.binary = binary;
        this.arnFields = arnFields;
        this.timeoutMs = timeoutMs;
        this.logger = logger;
        this.retry = new BackoffRetry({
            initialDelayMs: BACKOFF_INITIAL_MS,
            multiplier: 2,
            maxDelayMs: BACKOFF_MAX_MS,
            maxAttempts: maxConsecutiveFailures,
            onRetry: (err, n, delay) => logger.warn(`IPC failure (${n} in a row), retrying in ${delay} ms: ${err.message}`),
        });
        this.current = null; // the invocation in progress: { id, done }
        process.on('beforeExit', () => this.onEventLoopDrained());
    }

    start() {
        this.nextWork();
    }

    nextWork() {
        this.retry.run((cb) => this.ipc.getWork(this.functionArn, cb), (err, payload, invocationId, clientContext) => {
            if (err) return this.giveUp(err);
            return this.invoke(payload, invocationId, clientContext);
        });
    }

    giveUp(err) {
        this.logger.error(`Giving up after consecutive IPC failures; last: ${err.message}`);
        process.exit(EXIT_IPC_FAILURE);
    }

    invoke(payload, invocationId, clientContextHeader) {
        const inv = { id: invocationId, done: false };
        this.current = inv;
        this.logger.debug(`START RequestId: ${invocationId}`);
        let event;
        try {
            event = decodeEvent(payload, this.binary);
        } catch (e) {
            this.finish(inv, { errorMessage: `Could not parse the payload as JSON: ${e.message}`, errorType: e.name, stackTrace: [] }, undefined, true);
            return;
        }
        const context = this.makeContext(invocationId, clientContextHeader);
        const callback = (err, result) => this.finish(inv, err, result, false);
        Object.defineProperties(context, {
            succeed: { value: (result) => callback(null, result) },
            fail: { value: (err) => callback(err === undefined || err === null ? new Error('context.fail called') : err) },
            done: { value: (err, result) => callback(err, result) },
        });
        let returned;
        try {
            returned = this.handler.call(this.handlerThis, event, context, callback);
        } catch (e) {
            this.logger.error(`Function ${this.arnFields.name} threw: ${e && e.stack ? e.stack : e}`);
            callback(e);
            return;
        }
        if (returned && typeof returned.then === 'function') {
            returned.then((v) => callback(null, v), (e) => callback(e === undefined || e === null ? new Error(`Promise rejected with ${e}`) : e));
        }
    }

    makeContext(invocationId, clientContextHeader) {
        const deadline = Date.now() + this.timeoutMs;
        const context = {
            invokedFunctionArn: this.functionArn,
            awsRequestId: invocationId,
            functionName: this.arnFields.name,
            functionVersion: this.arnFields.qualifier,
            clientContext: decodeClientContext(clientContextHeader, (m) => this.logger.warn(m)),
        };
        // Cloud-Lambda extra (not enumerable: JSON.stringify(context) shows the genuine fields).
        Object.defineProperty(context, 'getRemainingTimeInMillis', { value: () => Math.max(0, deadline - Date.now()) });
        return context;
    }

    // First call wins; later ones are ignored (logged at DEBUG).
    finish(inv, err, result, isErrorBody) {
        if (inv.done) {
            this.logger.debug(`Ignoring a repeated callback for RequestId: ${inv.id}`);
            return;
        }
        inv.done = true;
        if (this.current === inv) this.current = null;
        const failed = isErrorBody || (err !== null && err !== undefined);
        let post;
        if (failed) {
            const body = isErrorBody ? err : errorBody(err);
            if (!isErrorBody) this.logger.error(`Function ${this.arnFields.name} reported an error: ${body.errorMessage}`);
            post = (cb) => this.ipc.postHandlerErr(this.functionArn, JSON.stringify(body), inv.id, cb);
        } else {
            let bytes;
            try {
                bytes = encodeResult(result, this.binary);
            } catch (e) {
                this.logger.error(`Could not serialise the result of ${this.arnFields.name}: ${e.message}`);
                const body = { errorMessage: `Unable to stringify the result: ${e.message}`, errorType: e.name, stackTrace: [] };
                post = (cb) => this.ipc.postHandlerErr(this.functionArn, JSON.stringify(body), inv.id, cb);
            }
            if (!post) {
                // E4 and the next E3 in one write (one round trip less per invocation).
                this.logger.debug(`End RequestId: ${inv.id}`);
                this.retry.run((cb) => this.ipc.postWorkResultAndGetWork(this.functionArn, bytes, inv.id, cb),
                    (postErr, workErr, payload, invocationId, clientContext, resultErr) => {
                        if (postErr) return this.giveUp(postErr);
                        if (workErr) return this.nextWork(); // the result is in: poll again, with retries
                        if (resultErr) this.logger.error(`The core refused the result of ${inv.id}: ${resultErr.message}`);
                        return this.invoke(payload, invocationId, clientContext);
                    });
                return;
            }
        }
        this.logger.debug(`End RequestId: ${inv.id}`);
        this.retry.run(post, (postErr) => {
            if (postErr) return this.giveUp(postErr);
            return this.nextWork();
        });
    }

    // The handler left nothing pending and never called back: complete with (undefined, undefined).
    onEventLoopDrained() {
        const inv = this.current;
        if (inv && !inv.done) this.finish(inv, undefined, undefined, false);
    }
}

// ---------------------------------------------------------------------------------------------

function loadHandler(handlerName, codeDir) {
    const { moduleName, exportName } = splitHandler(handlerName);
    let mod;
    let resolved;
    try {
        resolved = require.resolve(path.resolve(codeDir, moduleName));
    } catch (e) {
        resolved = undefined;
    }
    if (resolved !== undefined) {
        mod = require(resolved);
    } else {
        mod = require(moduleName); // genuine: require() through NODE_PATH
    }
    const fn = mod ? mod[exportName] : undefined;
    if (typeof fn !== 'function') {
        throw new Error(`Handler "${exportName}" missing on module "${moduleName}" (or not a function)`);
    }
    return { handler: fn, module: mod };
}

// A bundled aws-greengrass-core-sdk (not ours) must speak an interface this core supports.
// Bundled = in the function's own node_modules (the cheap check first: a full resolution walks
// every parent directory's node_modules, which is measurable in the cold start).
function checkBundledSdk(codeDir, coreMaxVersion, versionParser) {
    if (!fs.existsSync(path.join(codeDir, 'node_modules', 'aws-greengrass-core-sdk'))) {
        return null; // none bundled: ours answers require('aws-greengrass-core-sdk')
    }
    let resolved;
    try {
        resolved = require.resolve('aws-greengrass-core-sdk', { paths: [codeDir] });
    } catch (e) {
        return null;
    }
    if (resolved.startsWith(RUNTIME_MODULES_DIR + path.sep)) return null;
    const sdk = require(resolved);
    const version = (sdk && sdk.GreengrassInterfaceVersion) || DEFAULT_SDK_INTERFACE_VERSION;
    let compatible;
    try {
        compatible = versionParser.isCompatible(version, coreMaxVersion);
    } catch (e) {
        compatible = false;
    }
    if (!compatible) {
        throw new Error(`There was a version incompatibility between the Greengrass Core SDK bundled with the function `
            + `(interface version ${version}, ${path.dirname(resolved)}) and the Greengrass core `
            + `(GGC_MAX_INTERFACE_VERSION ${coreMaxVersion}): the major versions must match and the SDK's minor version `
            + 'must not be newer than the core\'s');
    }
    return version;
}

// Our node_modules must be a global module path even when the runtime is started without
// NODE_PATH (by hand, in tests): it answers require('aws-greengrass-core-sdk') when the function
// bundles none. Entries already in NODE_PATH (the function's code dir first) keep their order.
function ensureNodePath(env) {
    const entries = (env.NODE_PATH || '').split(path.delimiter).filter((p) => p);
    if (entries.includes(RUNTIME_MODULES_DIR)) return;
    entries.push(RUNTIME_MODULES_DIR);
    env.NODE_PATH = entries.join(path.delimiter);
    Module._initPaths();
}

const STANDBY_ARG = '--standby';

// A standby worker (argv holds --standby: started ahead of need, src/supervisor/README.md
// "Standby workers") blocks here, after the runtime is loaded and before the user's code, until
// the core assigns it: one byte on stdin (fd 0). EOF means it is not needed: false (exit 0).
// --standby is removed from argv and process.argv, so the user's code sees a plain start's.
// Blocking read on purpose: nothing else may run (timers, user code) before the assignment; a
// SIGTERM still ends the process (the runtime's handler is installed after this returns).
function awaitStartSignal(argv) {
    const at = argv.indexOf(STANDBY_ARG);
    if (at < 0) return true;
    argv.splice(at, 1);
    const pat = process.argv.indexOf(STANDBY_ARG);
    if (pat >= 0) process.argv.splice(pat, 1);
    const buf = Buffer.alloc(1);
    for (;;) {
        try {
            return fs.readSync(0, buf, 0, 1, null) === 1 && buf[0] === 0x67; // 'g'
        } catch (e) {
            if (e.code !== 'EAGAIN' && e.code !== 'EINTR') return false;
        }
    }
}

function main(argv, env) {
    ensureNodePath(env);
    // EVERGREEN_CODE_DIR: how this worker reaches its code (the cwd's real path may sit below a
    // directory its RunAs identity cannot search; see src/supervisor/dir_access.h).
    const codeDir = env.EVERGREEN_CODE_DIR || process.cwd();
    const oursForSdk = !fs.existsSync(path.join(codeDir, 'node_modules', 'aws-greengrass-core-sdk'));
    pinRuntimeSideModules(oursForSdk);
    const common = require('aws-greengrass-common-js');
    const IPCClient = require('aws-greengrass-ipc-sdk-js');
    const sink = common.logging.defaultSink();
    const logger = new common.logging.LocalWatchLogger(undefined, 'fromNodeAppender', sink);
    redirectConsole(sink);
    // A standby of a function that bundles no SDK loads ours now: the name is pinned to it, so
    // the function's require('aws-greengrass-core-sdk') returns this very module (no side effects
    // at load). A bundled SDK is the function's own code: loaded after the assignment.
    if (argv.includes(STANDBY_ARG) && oursForSdk) require('aws-greengrass-core-sdk');
    if (!awaitStartSignal(argv)) process.exit(EXIT_OK);

    process.on('SIGTERM', () => {
        logger.info('Caught SIGTERM. Stopping runtime.');
        process.exit(EXIT_OK);
    });

    const handlerName = parseHandlerArg(argv);
    const problems = checkEnvironment(env, handlerName);
    const nodeMajor = parseInt(process.versions.node.split('.')[0], 10);
    if (nodeMajor < MIN_NODE_MAJOR) problems.push(`Node.js >= ${MIN_NODE_MAJOR} is required, this is ${process.version}`);
    let arnFields;
    if (env.MY_FUNCTION_ARN) {
        try {
            arnFields = new common.FunctionArnFields(env.MY_FUNCTION_ARN);
        } catch (e) {
            problems.push(`MY_FUNCTION_ARN: ${e.message}`);
        }
    }
    let ipc;
    try {
        ipc = new IPCClient(env.AWS_CONTAINER_AUTHORIZATION_TOKEN);
    } catch (e) {
        problems.push(e.message);
    }
    if (problems.length) {
        const message = `Cannot start the Node.js runtime: ${problems.join('; ')}`;
        logger.error(message);
        if (sink.fdByLevel.ERROR !== 2) process.stderr.write(`${message}\n`);
        process.exit(EXIT_BAD_ENVIRONMENT);
    }
    const functionArn = env.MY_FUNCTION_ARN;
    logger.info(`Running [${functionArn}]`);

    let loaded;
    try {
        checkBundledSdk(codeDir, env.GGC_MAX_INTERFACE_VERSION, common.versionParser);
        loaded = loadHandler(handlerName, codeDir);
    } catch (e) {
        logger.error(`Failed to load handler "${handlerName}": ${e && e.stack ? e.stack : e}`);
        ipc.putInitializationResult(functionArn, e instanceof Error ? e : new Error(String(e)), (reportErr) => {
            if (reportErr) logger.error(`Could not report the initialization failure: ${reportErr.message}`);
            process.exit(EXIT_INIT_FAILURE);
        });
        return;
    }
    const warn = (m) => logger.warn(m);
    const runtime = new Runtime({
        ipc,
        functionArn,
        handler: loaded.handler,
        handlerThis: loaded.module,
        binary: env.ENCODING_TYPE === common.encodingType.encodingTypeBinary,
        arnFields,
        timeoutMs: envInt(env, 'EVERGREEN_FUNCTION_TIMEOUT_MS', DEFAULT_FUNCTION_TIMEOUT_MS, 1, warn),
        maxConsecutiveFailures: envInt(env, 'EVERGREEN_RUNTIME_MAX_IPC_FAILURES', DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES, 0, warn),
        logger,
        BackoffRetry: common.BackoffRetry,
    });
    ipc.putInitializationResult(functionArn, null, (err) => {
        if (err) logger.warn(`Could not report initialization success: ${err.message}`);
    });
    runtime.start();
}

module.exports = {
    main,
    parseHandlerArg,
    awaitStartSignal,
    splitHandler,
    checkEnvironment,
    decodeClientContext,
    decodeEvent,
    encodeResult,
    errorBody,
    envInt,
    loadHandler,
    checkBundledSdk,
    Runtime,
    EXIT_OK,
    EXIT_INIT_FAILURE,
    EXIT_BAD_ENVIRONMENT,
    EXIT_IPC_FAILURE,
};

if (require.main === module) {
    main(process.argv.slice(2), process.env);
}
