#!/usr/bin/env bash
# Host glue for the offline kind world: Docker (engine started here, no systemd), debootstrap, and, only when the
# plain runtime cannot start privileged containers on this VM, a runc wrapper that removes CAP_SYS_RESOURCE from
# OCI specs (this VM's capability bounding set lacks it). Idempotent. Never touches cgroups.
set -euo pipefail
log() { printf '[host-prep] %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v jq >/dev/null || need_pkgs+=(jq)
# runc for the node image is built with cgo against libseccomp (static, like its Makefile's `static` target)
dpkg -s libseccomp-dev >/dev/null 2>&1 || need_pkgs+=(libseccomp-dev)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} (Debian packages)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

wrapper=/usr/local/sbin/runc-nosysresource
write_wrapper() {
  cat > "$wrapper" <<'WRAP'
#!/bin/sh
# runc wrapper installed by gitlab-kaniko-tenant tools/e2e/host-prep.sh: this VM's capability bounding set lacks
# CAP_SYS_RESOURCE, so strip it from the bundle's config.json (create/run) and from `exec --process` specs.
strip() { [ -f "$1" ] && jq 'walk(if type == "array" then map(select(. != "CAP_SYS_RESOURCE")) else . end)' "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }
prev=""; bundle=""; process=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; --process|-p) process=$a ;; esac
  case "$a" in --bundle=*) bundle=${a#--bundle=} ;; --process=*) process=${a#--process=} ;; esac
  prev=$a
done
[ -n "$bundle" ] && strip "$bundle/config.json"
[ -n "$process" ] && strip "$process"
exec /usr/sbin/runc "$@"
WRAP
  chmod 755 "$wrapper"
}

start_dockerd() {
  local runtime_args=()
  if [ -x "$wrapper" ] && [ -f /etc/docker/.gkt-wrapper ]; then
    runtime_args=(--add-runtime "nosysresource=$wrapper" --default-runtime nosysresource)
  fi
  log "starting dockerd ${runtime_args[*]}"
  nohup dockerd "${runtime_args[@]}" > /var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  log "dockerd did not start, see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log; return 1
}

if ! docker info >/dev/null 2>&1; then
  start_dockerd
fi

# Can we start a privileged container and exec into it? Needs an image: import an empty rootfs with busybox if none.
probe_image=gkt-probe:1
if ! docker image inspect "$probe_image" >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin"
  cp /bin/busybox "$tmp/bin/" 2>/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; cp /bin/busybox "$tmp/bin/"; }
  ln -s busybox "$tmp/bin/sh"; ln -s busybox "$tmp/bin/true"
  tar -C "$tmp" -c . | docker import - "$probe_image" >/dev/null
  rm -rf "$tmp"
fi
probe() {
  docker rm -f gkt-probe >/dev/null 2>&1 || true
  docker run -d --name gkt-probe --privileged "$probe_image" /bin/sh -c 'sleep 600' >/dev/null 2>&1 &&
    docker exec gkt-probe /bin/true >/dev/null 2>&1
  local rc=$?
  docker rm -f gkt-probe >/dev/null 2>&1 || true
  return $rc
}
if probe; then
  log "privileged containers work with the current runtime"
else
  log "privileged containers fail with the plain runtime (unable to apply caps): installing the runc wrapper"
  write_wrapper
  mkdir -p /etc/docker && touch /etc/docker/.gkt-wrapper
  pkill dockerd || true
  for _ in $(seq 30); do pgrep dockerd >/dev/null || break; sleep 1; done
  start_dockerd
  probe || { log "privileged containers still fail with the wrapper"; exit 1; }
  log "privileged containers work through $wrapper"
fi
log "ready: $(docker version --format 'docker {{.Server.Version}}')"
