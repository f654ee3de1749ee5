// Calls Kinesis with the GENUINE npm aws-sdk v2 (installed into this folder by the test) and no
// credentials of its own: the SDK's ECS/remote credentials provider reads
// AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN (the core's E9).
// Event {"tag", "kinesis": endpoint, "stream", "data", "reply"}; reports {"tag","ok","akid"} or
// {"tag","error"} through the Core SDK's publish.
const AWS = require('aws-sdk');
const ggSdk = require('aws-greengrass-core-sdk');

const iot = new ggSdk.IotData();
const creds = new AWS.RemoteCredentials();  // the container-credentials provider of aws-sdk v2

exports.handler = function handler(event, context, callback) {
  const out = { tag: event.tag };
  const report = () => {
    iot.publish({ topic: event.reply || 'tes/out', payload: JSON.stringify(out) }, () => callback(null));
  };
  creds.getPromise().then(() => {
    out.akid = creds.accessKeyId;
    const kinesis = new AWS.Kinesis({ endpoint: event.kinesis, region: process.env.AWS_REGION, credentials: creds });
    return kinesis.putRecord({ StreamName: event.stream, Data: event.data, PartitionKey: 'p' }).promise();
  }).then((r) => {
    out.ok = true;
    out.seq = r.SequenceNumber;
    report();
  }).catch((e) => {
    out.error = `${e.code || e.name}: ${e.message}`;
    report();
  });
};
