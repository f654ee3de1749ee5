// Starts the npm s3rver (path to its node_modules in argv[2]) on 127.0.0.1:argv[3] storing in
// argv[4], after registering the access key ids the tests' fake AWS IoT credentials provider
// issues (ASIAFAKE00000001 ...): s3rver refuses unknown key ids (it does not check SigV4
// signatures; the tests' SigV4Proxy does).
const path = require('path');
const modules = process.argv[2];
const S3rver = require(path.join(modules, 's3rver'));
const AWSAccount = require(path.join(modules, 's3rver', 'lib', 'models', 'account'));
for (let i = 1; i <= 2000; i += 1) {
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(`ASIAFAKE${String(i).padStart(8, '0')}`, 'unused');
}
new S3rver({
  port: Number(process.argv[3]), address: '127.0.0.1', directory: process.argv[4], silent: true,
}).run((err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
});
