#!/usr/bin/env bash
# Puts the example group's functions into the function store (package -> function -> version 1
# -> alias PROD, as one would with `aws lambda`), then deploys the group (or stages it when the
# core is not running yet). Idempotent.
#   prepare.sh EVERGREEN_BINARY ROOT_DIR [BUILD_DIR]
# BUILD_DIR (default: two levels above the binary) provides the Java runtime jars and the C SDK
# that the Java and C examples are compiled against.
set -euo pipefail
EVG="$1"
ROOT="$2"
BUILD="${3:-$(cd "$(dirname "$EVG")/../.." && pwd)}"
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
exists() { "$EVG" function get --root "$ROOT" --function-name "$1" --qualifier PROD >/dev/null 2>&1; }
publish() {  # name runtime handler package-flag package
  "$EVG" function create --root "$ROOT" --function-name "$1" --runtime "$2" --handler "$3" \
    "$4" "$5" >/dev/null
  "$EVG" function publish-version --root "$ROOT" --function-name "$1" >/dev/null
  "$EVG" function create-alias --root "$ROOT" --function-name "$1" --name PROD \
    --function-version 1 >/dev/null
}
zip_py() {  # name dir handler
  exists "$1" && return 0
  (cd "$HERE/functions/$2" && /usr/bin/python3 -m zipfile -c "$TMP/$1.zip" ./*.py)
  publish "$1" python3.8 "$3" --zip-file "fileb://$TMP/$1.zip"
}
zip_py SeedExample seed_example lambda_function.function_handler
zip_py HelloWorld hello_world greengrassHelloWorld.function_handler
zip_py Echo echo echo.handler
zip_py ShadowDemo shadow_demo shadow_demo.function_handler
if ! exists NodeHello; then
  publish NodeHello nodejs12.x index.handler --code-dir "$HERE/functions/node_hello"
fi
if ! exists JavaHello; then
  bash "$HERE/functions/java_hello/build.sh" "$BUILD/runtime/java" "$TMP/JavaHello.zip" >/dev/null
  publish JavaHello java8 com.example.HelloWorld::handleRequest --zip-file "fileb://$TMP/JavaHello.zip"
fi
if ! exists CHello; then
  mkdir -p "$TMP/c_hello"
  cc -I"$SRC/sdk/c/include" "$HERE/functions/c_hello/c_hello.c" -o "$TMP/c_hello/c_hello" \
    -L"$BUILD/sdk/c" -laws-greengrass-core-sdk-c
  publish CHello arn:aws:greengrass:::runtime/function/executable c_hello --code-dir "$TMP/c_hello"
fi
set +e
"$EVG" deploy --root "$ROOT" "$HERE/group.json" >/dev/null
rc=$?
set -e
[ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
