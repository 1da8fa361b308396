#!/usr/bin/env bash
# Runs ServeAspire on this machine: redis, controller, proxies on :8000/:8001, three nodes, the Aspire dashboard.
# Extra arguments go to the AppHost, e.g. ./run.sh --Serve:Nodes 4
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh run
# Release: the data path is measured in Release (bench/dataplane.sh); the tests build Debug.
dotnet build ServeAspire.sln -c Release -v q -nologo -clp:NoSummary >&2
# The proxies run as native code (Native AOT): a third of the memory of the JIT build (docs/benchmarks-changes.md).
proxy=$(./scripts/build-native-proxy.sh)
exec dotnet run --project src/AppHost -c Release --no-build --launch-profile http -- --Serve:ProxyExecutable "$proxy" "$@"
