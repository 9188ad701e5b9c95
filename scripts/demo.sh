#!/usr/bin/env bash
# The README's main command: on a fresh Debian machine, install what is missing, start the
# engine and a registry on loopback, then plan and apply the default images.yaml.
# Run it twice: the second run plans "No changes" and uploads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
node scripts/build.mjs   # the CLI bundle (tsc output is only for benchmarks)
bash scripts/prepare-default-tree.sh
bash scripts/local-registry.sh
# apply prints the plan it carries out; run `node bin/arbor.js plan` to see it without applying.
node bin/arbor.js apply --auto-approve "$@"
