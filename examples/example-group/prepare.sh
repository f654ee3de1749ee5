#!/usr/bin/env bash
# Puts the example group's three Python functions into the function store (zip -> function ->
# version 1 -> alias PROD, as one would with `aws lambda`), then deploys the group (or stages it
# when the core is not running yet). Idempotent.
set -euo pipefail
EVG="$1"
ROOT="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
make_fn() {  # name dir handler
  local name="$1" dir="$2" handler="$3"
  if "$EVG" function get --root "$ROOT" --function-name "$name" --qualifier PROD >/dev/null 2>&1; then
    return 0
  fi
  (cd "$HERE/functions/$dir" && /usr/bin/python3 -m zipfile -c "$TMP/$name.zip" ./*.py)
  "$EVG" function create --root "$ROOT" --function-name "$name" --runtime python3.8 \
    --handler "$handler" --zip-file "fileb://$TMP/$name.zip" >/dev/null
  "$EVG" function publish-version --root "$ROOT" --function-name "$name" >/dev/null
  "$EVG" function create-alias --root "$ROOT" --function-name "$name" --name PROD \
    --function-version 1 >/dev/null
}
make_fn SeedExample seed_example lambda_function.function_handler
make_fn HelloWorld hello_world greengrassHelloWorld.function_handler
make_fn Echo echo echo.handler
set +e
"$EVG" deploy --root "$ROOT" "$HERE/group.json" >/dev/null
rc=$?
set -e
[ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
