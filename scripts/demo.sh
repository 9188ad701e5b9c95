#!/usr/bin/env bash
# The README's main command: on a fresh Debian machine, install what is missing, start the
# engine and a registry on loopback, then plan and apply the default images.yaml.
# Run it twice: the second run plans "No changes" and uploads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
bash scripts/prepare-default-tree.sh
bash scripts/local-registry.sh
node bin/arbor.js plan
node bin/arbor.js apply --auto-approve "$@"
