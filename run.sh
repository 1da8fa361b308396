#!/usr/bin/env bash
# Runs ServeAspire on this machine: redis, controller, proxies on :8000/:8001, three nodes, the Aspire dashboard.
# Extra arguments go to the AppHost, e.g. ./run.sh --Serve:Nodes 4
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
dotnet build ServeAspire.sln -c Debug -v q -nologo
exec dotnet run --project src/AppHost --no-build --launch-profile http -- "$@"
