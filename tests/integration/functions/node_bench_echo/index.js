'use strict';
// Benchmark echo (binary encoding): republishes the event bytes on bench/out, then completes.
// Also a RequestResponse target: returns the event bytes.
const gg = require('aws-greengrass-core-sdk');

const iot = new gg.IotData();

exports.handler = (event, context, callback) => {
    if (context.clientContext.Custom.subject) {
        iot.publish({ topic: 'bench/out', payload: event }, (err) => callback(err, event));
        return;
    }
    callback(null, event);
};
