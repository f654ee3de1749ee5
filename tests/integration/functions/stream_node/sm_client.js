// Drives the GENUINE npm aws-greengrass-core-sdk@1.7.0 StreamManagerClient (installed next to
// this file by the test, node_helpers.install_genuine_sdk) against the core's stream manager:
//   node sm_client.js PORT STREAM
// create, append 1,000, long-poll read back, describe, update (allowed and not allowed), list,
// errors (unknown stream, bad name, oversized payload, full stream with each strategy), delete.
// Prints one JSON object with what happened (exception class names for errors).
'use strict';

const sm = require('aws-greengrass-core-sdk/stream-manager');

const port = parseInt(process.argv[2], 10);
const name = process.argv[3];

async function err(p) {
    try {
        await p;
        return 'no error';
    } catch (e) {
        return e.constructor.name;
    }
}

function def(n) {
    return new sm.MessageStreamDefinition().withName(n).withStrategyOnFull(sm.StrategyOnFull.RejectNewData);
}

async function run(c) {
    const out = {};
    await c.createMessageStream(def(name).withPersistence(sm.Persistence.File));
    const seqs = [];
    for (let i = 0; i < 1000; i += 1) {
        seqs.push(await c.appendMessage(name, Buffer.from(`n${i}`)));
    }
    out.seqsOk = seqs.every((s, i) => s === i);
    const msgs = await c.readMessages(name, new sm.ReadMessagesOptions()
        .withDesiredStartSequenceNumber(0).withMinMessageCount(1000).withMaxMessageCount(1000)
        .withReadTimeoutMillis(5000));
    out.readOk = msgs.length === 1000 && msgs.every((m, i) => m.payload.toString() === `n${i}`
        && m.sequenceNumber === i && m.streamName === name);
    // Long-poll for the next message, appended 300 ms later.
    const t0 = Date.now();
    const pending = c.readMessages(name, new sm.ReadMessagesOptions()
        .withDesiredStartSequenceNumber(1000).withMinMessageCount(1).withReadTimeoutMillis(10000));
    setTimeout(() => { c.appendMessage(name, Buffer.from('late')); }, 300);
    const late = await pending;
    out.longPoll = { payload: late[0].payload.toString(), ms: Date.now() - t0 };
    const info = await c.describeMessageStream(name);
    out.newest = info.storageStatus.newestSequenceNumber;
    await c.updateMessageStream(def(name).withPersistence(sm.Persistence.File).withMaxSize(1 << 20));
    out.maxSizeAfterUpdate = (await c.describeMessageStream(name)).definition.maxSize;
    out.updatePersistence = await err(c.updateMessageStream(def(name).withPersistence(sm.Persistence.Memory)));
    out.list = await c.listStreams();
    out.unknownStream = await err(c.appendMessage('nope', Buffer.from('x')));
    out.badName = await err(c.createMessageStream(def('bad/name')));
    await c.createMessageStream(def('tiny').withMaxSize(1024).withStreamSegmentSize(1024));
    out.oversized = await err(c.appendMessage('tiny', Buffer.alloc(2000)));
    for (let i = 0; i < 10; i += 1) await c.appendMessage('tiny', Buffer.alloc(100));
    out.full = await err(c.appendMessage('tiny', Buffer.alloc(100)));
    await c.createMessageStream(new sm.MessageStreamDefinition().withName('ow').withMaxSize(1024)
        .withStreamSegmentSize(1024).withStrategyOnFull(sm.StrategyOnFull.OverwriteOldestData));
    for (let i = 0; i < 50; i += 1) await c.appendMessage('ow', Buffer.alloc(100));
    const ow = (await c.describeMessageStream('ow')).storageStatus;
    out.overwrite = { oldest: ow.oldestSequenceNumber, newest: ow.newestSequenceNumber, bytes: ow.totalBytes };
    out.notEnough = await err(c.readMessages('ow', new sm.ReadMessagesOptions()
        .withDesiredStartSequenceNumber(50)));
    await c.deleteMessageStream(name);
    out.afterDelete = await err(c.describeMessageStream(name));
    return out;
}

const c = new sm.StreamManagerClient({ port, logger: { error() {}, warn() {}, info() {}, debug() {}, trace() {} } });
c.onConnected(async () => {
    let out;
    try {
        out = await run(c);
    } catch (e) {
        out = { fatal: `${e.constructor.name}: ${e.message}` };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
    c.close();
    process.exit(0);
});
c.onError((e) => {
    process.stdout.write(`${JSON.stringify({ connectError: `${e.constructor.name}: ${e.message}` })}\n`);
    process.exit(1);
});
setTimeout(() => { process.stdout.write('{"fatal": "timeout"}\n'); process.exit(1); }, 60000);
