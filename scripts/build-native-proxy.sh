#!/usr/bin/env bash
# Compiles the proxy to native code (Native AOT) into artifacts/proxy-native/, which ./run.sh, the bench scripts and
# one end-to-end test run (Serve:ProxyExecutable). Native AOT links with clang: installed from Debian when missing.
# Incremental: about 80 s on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# stdout is the result (the executable's path; ./run.sh captures it), so progress and build output go to stderr.
# zlib1g-dev: the linker wants libz.so, which a machine with clang alone lacks.
{ command -v clang >/dev/null 2>&1 && dpkg -s zlib1g-dev >/dev/null 2>&1; } || apt_install clang zlib1g-dev
echo "build-native-proxy: publishing src/Proxy as native code" >&2
dotnet publish src/Proxy -c Release -r linux-x64 -p:ServeNative=true -o artifacts/proxy-native -nologo -v q -clp:NoSummary >&2
echo "$PWD/artifacts/proxy-native/ServeAspire.Proxy"
