'use strict';
// Node test function, binary encoding: republishes the raw event bytes on binary/out and returns them.
const gg = require('aws-greengrass-core-sdk');

const iot = new gg.IotData();

exports.handler = (event, context, callback) => {
    if (!Buffer.isBuffer(event)) return callback(new Error(`expected a Buffer, got ${typeof event}`));
    return iot.publish({ topic: 'binary/out', payload: event }, (err) => callback(err, event));
};
