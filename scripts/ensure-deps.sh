#!/usr/bin/env bash
# Installs what ServeAspire needs on a fresh machine (Debian): redis-server, and checks the .NET SDK.
# Progress goes to stderr, never stdout: callers capture the stdout of the scripts that call this one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v jq >/dev/null 2>&1 || need+=(jq)          # used by the README tour
if [ ${#need[@]} -gt 0 ]; then
  apt_install "${need[@]}"
fi
# A distribution-started redis on 6379 would clash with ours; we run our own, never the system service.
command -v dotnet >/dev/null 2>&1 || { echo "the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
# The Kubernetes schema validator used by the tests (npm package kubernetes-models).
if [ ! -d tests/k8s-validate/node_modules/kubernetes-models ]; then
  (cd tests/k8s-validate && npm ci --no-audit --no-fund --silent) >&2
fi
# The browser test (tests/browser): Debian's headless Chromium, driven by puppeteer-core (which never downloads a browser).
command -v chromium-headless-shell >/dev/null 2>&1 || apt_install chromium-headless-shell
if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent) >&2
fi
