#!/usr/bin/env bash
# A CNCF distribution registry on 127.0.0.1:${ARBOR_REGISTRY_PORT:-5000} for the default tree,
# storage under .arbor/registry, deletion enabled. Idempotent: does nothing when one answers.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${ARBOR_REGISTRY_PORT:-5000}
if curl -fsS -o /dev/null "http://127.0.0.1:${port}/v2/" 2>/dev/null; then
  echo "local-registry: already answering on 127.0.0.1:${port}"
  exit 0
fi
dir="$PWD/.arbor/registry"
mkdir -p "$dir/storage"
cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
YAML
nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:${port}/v2/" 2>/dev/null && { echo "local-registry: started on 127.0.0.1:${port} (storage $dir/storage)"; exit 0; }
  sleep 0.1
done
echo "local-registry: did not start; see $dir/registry.log" >&2
exit 1
