// Chain hop (tests/integration/test_14_chain.py): the event {msg, path, next: [arn, ...]} gets
// "node" appended to path and goes RequestResponse to next[0] (with next shifted); its result
// (JSON) is this function's result.
const ggSdk = require('aws-greengrass-core-sdk');

const lambda = new ggSdk.Lambda();

exports.handler = function handler(event, context, callback) {
  event.path.push('node');
  const target = event.next.shift();
  lambda.invoke({FunctionName: target, InvocationType: 'RequestResponse',
                 Payload: JSON.stringify(event)}, (err, data) => {
    if (err) return callback(err);
    if (data.FunctionError) return callback(new Error('downstream ' + data.FunctionError + ': ' + data.Payload));
    callback(null, JSON.parse(data.Payload.toString()));
  });
};
