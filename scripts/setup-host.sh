#!/usr/bin/env bash
# Installs and starts what arbor's tests and demo need on a Debian machine: the Docker engine
# (docker.io, no bridge: loopback only), CNCF distribution (docker-registry), skopeo, buildah,
# podman, busybox-static and zstd. Idempotent: installs only what is missing, starts only what is down.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v podman >/dev/null 2>&1 || need+=(podman)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# Auth and TLS tests: bcrypt htpasswd files for the registry, and a throwaway CA.
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Signing: gpg and its agent (GPG simple signing, and the skopeo oracle tests).
command -v gpg-agent >/dev/null 2>&1 || need+=(gnupg)
# Layer deltas: zstd --patch-from encodes and decodes them (src/delta/zstd.ts).
command -v zstd >/dev/null 2>&1 || need+=(zstd)
# The demo registry is probed with curl.
command -v curl >/dev/null 2>&1 || need+=(curl)
# arbor unpack writes extended attributes (file capabilities, overlay opaque markers) with setfattr.
command -v setfattr >/dev/null 2>&1 || need+=(attr)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-host: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The engine: docker.io's client (/usr/bin/docker, 20.10) matches its daemon; a newer client on
# PATH may want buildx. No bridge and no iptables: builds use --network=none or host.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker
if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "setup-host: starting dockerd"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false --ip-forward=false >/tmp/arbor-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$DOCKER" info >/dev/null 2>&1 || { echo "setup-host: dockerd did not start; see /tmp/arbor-dockerd.log" >&2; exit 1; }
fi
echo "setup-host: engine $("$DOCKER" version --format '{{.Server.Version}}'), $(docker-registry --version | awk '{print $NF}')"
