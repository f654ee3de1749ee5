#pragma once
// `evergreen function <command> ...`: a local `aws lambda` look-alike over FunctionStore.
//
//   create          --root DIR --function-name N --runtime R --handler H
//                   (--zip-file Z | --code-dir D) [--environment 'Variables={K=V,...}' | JSON]
//                   [--timeout S] [--memory-size MB] [--description T] [--region R --account A]
//   update-function-code --root DIR --function-name N (--zip-file Z | --code-dir D) [--publish]
//   update-function-configuration --root DIR --function-name N [--runtime R] [--handler H]
//                   [--description T] [--timeout S] [--memory-size MB] [--environment ...]
//   publish-version --root DIR --function-name N [--description T]
//                   (no new version when $LATEST is unchanged since the newest version)
//   create-alias    --root DIR --function-name N --name A --function-version V [--description T]
//   update-alias    --root DIR --function-name N --name A --function-version V
//   list            --root DIR
//   list-versions   --root DIR --function-name N
//   list-aliases    --root DIR --function-name N
//   get             --root DIR --function-name N [--qualifier Q]
//   delete          --root DIR --function-name N [--qualifier Q]
//   delete-alias    --root DIR --function-name N --name A
// AWS CLI spellings (create-function, list-functions, ...) are accepted too. --zip-file accepts
// fileb://PATH. Region/account default to the coreThing.thingArn of DIR/config/config.json, the
// package bounds come from its evergreen.functions block. An option a command does not take is
// a usage error.
// Output: AWS-CLI-shaped JSON on `out`; errors as "error: <message>" on `err`.
// Exit codes: 0 ok, 1 operation failed, 2 usage error.

#include <ostream>

namespace evg::functions {

// argv[0] is the command name; a leading "function" argument is skipped.
int runFunctionCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace evg::functions
