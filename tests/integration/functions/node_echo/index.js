'use strict';
// Node test function (our SDK from the runtime: it bundles none). Returns what the invocation
// looked like from inside; publishes the same document on event.reply (default "node/out") when
// it came in through a subscription (client context subject set) or event.publish is true.
// Module state: `count` (pinned: one per worker lifetime).
const gg = require('aws-greengrass-core-sdk');

const iot = new gg.IotData();
let count = 0;
console.log(`node_echo initialised in pid ${process.pid}`);

exports.handler = function handler(event, context, callback) {
    count += 1;
    const out = {
        event,
        count,
        pid: process.pid,
        custom: context.clientContext.Custom,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        awsRequestId: context.awsRequestId,
        contextKeys: Object.keys(context).sort(),
        node: process.version,
        sdk: require.resolve('aws-greengrass-core-sdk'),
    };
    if (context.clientContext.Custom.subject || (event && event.publish)) {
        iot.publish({ topic: (event && event.reply) || 'node/out', payload: JSON.stringify(out) }, (err) => {
            if (err) return callback(err);
            return callback(null, out);
        });
        return;
    }
    callback(null, out);
};
