#!/bin/sh
# Puts busybox (Debian's busybox-static) into the base image's build context, so the default
# images.yaml builds offline FROM scratch. The binary is git-ignored (/images/base/busybox).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
source=${BUSYBOX:-/bin/busybox}
if [ ! -x "$source" ]; then
  echo "prepare-default-tree: $source not found; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi
# A dynamically linked busybox would not run in an image without a libc.
if command -v file >/dev/null 2>&1 && file -L "$source" | grep -q 'dynamically linked'; then
  echo "prepare-default-tree: $source is dynamically linked; install busybox-static" >&2
  exit 1
fi
target="$root/images/base/busybox"
if ! cmp -s "$source" "$target" 2>/dev/null; then
  cp "$source" "$target.tmp"
  chmod 0755 "$target.tmp"
  mv "$target.tmp" "$target"
fi
echo "prepare-default-tree: $target ready"
