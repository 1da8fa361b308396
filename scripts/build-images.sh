#!/usr/bin/env bash
# Builds the three container images with the .NET SDK's container support (no Dockerfile):
#   serveaspire/controller, serveaspire/proxy, serveaspire/node  (registry/names/tag: Directory.Build.props)
# With a Docker daemon they go to the local daemon (or to $SERVE_IMAGE_PUSH=1 → ContainerRegistry);
# without one, to tar archives under artifacts/images/ (load them with `docker load` / `ctr import`).
# Exits 3 at once when the base-image registry cannot be reached (as on these build machines).
set -euo pipefail
cd "$(dirname "$0")/.."
base_registry=${SERVE_BASE_IMAGE_REGISTRY:-mcr.microsoft.com}
if ! curl -fsS --max-time 5 -o /dev/null "https://$base_registry/v2/" 2>/dev/null; then
  echo "build-images: cannot reach the base-image registry https://$base_registry (needed to pull mcr.microsoft.com/dotnet/aspnet)." >&2
  echo "build-images: run this where that registry is reachable; the manifests already reference the images it would build." >&2
  exit 3
fi
mkdir -p artifacts/images
for project in Controller Proxy ReplicaHost; do
  args=(-c Release -t:PublishContainer -p:ContainerRuntimeIdentifier=linux-x64 --nologo -v q)
  if [ "${SERVE_IMAGE_PUSH:-0}" = 1 ]; then
    :
  elif ! docker info >/dev/null 2>&1; then
    args+=(-p:ContainerArchiveOutputPath="$PWD/artifacts/images/")
  else
    args+=(-p:ContainerRegistry=)  # local daemon
  fi
  echo "== $project"
  dotnet publish "src/$project/$project.csproj" "${args[@]}"
done
ls -l artifacts/images/ 2>/dev/null || true
