'use strict';
// NodeHello — a Greengrass v1 Node.js function in the style of the v1 "HelloWorld" Node sample.
// It bundles no SDK: require('aws-greengrass-core-sdk') gets Evergreen's, from the runtime.
// Every message on hello/node/in comes back on hello/node/out as
//   {"message": "Hello from Node.js <version>: <event.name or 'world'>", "topic": <input topic>, "count": n}
// (count: invocations served by this worker; with Pinned true it counts since core start).
const gg = require('aws-greengrass-core-sdk');

const iotData = new gg.IotData();
let count = 0;

exports.handler = function handler(event, context, callback) {
    count += 1;
    const name = event && typeof event.name === 'string' ? event.name : 'world';
    const reply = {
        message: `Hello from Node.js ${process.version}: ${name}`,
        topic: context.clientContext.Custom.subject,
        count,
    };
    console.log(`NodeHello invoked on ${reply.topic} (${context.awsRequestId})`);
    iotData.publish({ topic: 'hello/node/out', payload: JSON.stringify(reply) }, (err) => {
        if (err) console.error(`publish failed: ${err.message}`);
        callback(err, reply);
    });
};
