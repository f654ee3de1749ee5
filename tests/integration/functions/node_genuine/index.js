'use strict';
// Node test function driving the GENUINE aws-greengrass-core-sdk@1.7.0 (npm), which the tests
// install into this function's node_modules at test time. Publishes what it saw on
// event.reply (default "genuine/result"). event.op:
//   publish -> IotData.publish({topic, payload, queueFullPolicy}) -> {err, data}
//   invoke  -> Lambda.invoke({FunctionName, InvocationType, Payload, Qualifier, ClientContext}) -> {err, data}
//   secret  -> SecretsManager.getSecretValue({SecretId}) -> {err, data}
//   whoami  -> where the SDK was loaded from and its interface version
const gg = require('aws-greengrass-core-sdk');

const iot = new gg.IotData();
const lambda = new gg.Lambda();
const secrets = new gg.SecretsManager();

function report(event, out, callback) {
    out.tag = event.tag;
    iot.publish({ topic: event.reply || 'genuine/result', payload: JSON.stringify(out) }, (err) => callback(err, out));
}

exports.handler = function handler(event, context, callback) {
    const done = (err, data) => report(event, {
        err: err ? String(err.message || err) : null,
        data: Buffer.isBuffer(data) ? data.toString('utf8') : data,
    }, callback);
    switch (event.op) {
    case 'publish':
        return iot.publish({ topic: event.topic, payload: event.payload, queueFullPolicy: event.policy }, done);
    case 'invoke': {
        const params = { FunctionName: event.target, Payload: JSON.stringify(event.payload || {}) };
        if (event.type) params.InvocationType = event.type;
        if (event.qualifier) params.Qualifier = event.qualifier;
        if (event.clientContext) params.ClientContext = Buffer.from(JSON.stringify(event.clientContext)).toString('base64');
        return lambda.invoke(params, done);
    }
    case 'secret':
        return secrets.getSecretValue({ SecretId: event.secretId }, done);
    case 'whoami':
        return report(event, { sdk: require.resolve('aws-greengrass-core-sdk'), version: gg.GreengrassInterfaceVersion }, callback);
    default:
        return callback(new Error(`unknown op ${event.op}`));
    }
};
