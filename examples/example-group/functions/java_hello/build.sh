#!/usr/bin/env bash
# Builds java_hello.zip (classes at the root, as a v1 Java deployment package) with javac against
# the Evergreen Java runtime jars.
#   build.sh <dir holding evergreen-lambda-runtime.jar and evergreen-java-sdk.jar> <out.zip>
# e.g. build.sh build/runtime/java /tmp/java_hello.zip   or   <prefix>/lib/evergreen/runtime/java
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jars="$1"; out="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
javac --release 8 -nowarn -cp "$jars/evergreen-lambda-runtime.jar:$jars/evergreen-java-sdk.jar" \
  -d "$tmp" "$here"/src/com/example/*.java
(cd "$tmp" && rm -f "$out.tmp" && /usr/bin/python3 -c 'import sys,zipfile,os
z=zipfile.ZipFile(sys.argv[1],"w")
for d,_,fs in os.walk("."):
    [z.write(os.path.join(d,f), os.path.relpath(os.path.join(d,f),".")) for f in fs]' "$out.tmp")
mv "$out.tmp" "$out"
echo "$out"
