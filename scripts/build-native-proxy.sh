#!/usr/bin/env bash
# Compiles the proxy to native code (Native AOT) into artifacts/proxy-native/, which ./run.sh, the bench scripts and
# one end-to-end test run (Serve:ProxyExecutable). Native AOT links with clang: installed from Debian when missing.
# Incremental: about 80 s on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null 2>&1; then
  echo "installing: clang (links the native proxy)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang zlib1g-dev >/dev/null
fi
dotnet publish src/Proxy -c Release -r linux-x64 -p:ServeNative=true -o artifacts/proxy-native -nologo -v q >/dev/null
echo "$PWD/artifacts/proxy-native/ServeAspire.Proxy"
