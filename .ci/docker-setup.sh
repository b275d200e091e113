#!/usr/bin/env bash
# Provide a Docker engine and the node:20-slim base image on a machine with no systemd and no
# registry access (only Debian's apt archive and the npm registry).
#
#   1. apt-get install docker.io docker-compose (Debian's; compose v1 = `docker-compose`)
#   2. record the host settings dockerd changes (iptables FORWARD policy, ip_forward), once
#   3. start dockerd in the background, log to a file, wait (bounded) until `docker info` answers
#   4. build node:20-slim locally: a root filesystem holding this machine's node binary and npm,
#      Debian's dash (/bin/sh) and coreutils (/usr/bin/env, ln, ...) as installed here, and the
#      libraries ldd lists for them, imported with `docker import` (skipped when the image already
#      holds the same node binary and recipe). The real node:20-slim has all of these; the
#      project's Dockerfile needs them: npm and sh to build and prune in the image, env for the
#      `#!/usr/bin/env node` of npm and of bin/client.js (the `client` command), ln to link it.
#
# Idempotent, non-interactive, runs as root with no stdin. Undo with .ci/docker-teardown.sh.
set -euo pipefail

STATE_DIR=${LL_DOCKER_STATE_DIR:-/var/tmp/lamport-ledger-docker}
LOG=$STATE_DIR/dockerd.log
PIDFILE=$STATE_DIR/dockerd.pid
SAVED=$STATE_DIR/saved-host-settings
IMAGE=${LL_DOCKER_IMAGE:-node:20-slim}
WAIT_SECONDS=${LL_DOCKER_WAIT_SECONDS:-60}
LABEL=org.lamport-ledger.node-sha256
RECIPE_LABEL=org.lamport-ledger.base-recipe
# Bump when the image's contents change, so that an image built by an older recipe is rebuilt.
RECIPE=2
# Debian packages copied into the image as installed on this machine (both are Essential: yes).
DEB_PACKAGES="dash coreutils"

say() { printf '[docker-setup] %s\n' "$*"; }
die() { printf '[docker-setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$STATE_DIR"
start_time=$(date +%s)

# --- 1. packages ------------------------------------------------------------------------------
need_install=0
for pkg in docker.io docker-compose iptables; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_install=1
done
if [ "$need_install" = 1 ]; then
  say "installing docker.io docker-compose from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # No init system here: keep the package scripts from trying to start services themselves.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  # .ci/run refreshes the package lists once for every setup script.
  [ "${LL_APT_UPDATED:-0}" = 1 ] || apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends docker.io docker-compose iptables </dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  trap - EXIT
else
  say "docker.io, docker-compose and iptables already installed"
fi
command -v dockerd >/dev/null || die "dockerd not found after install"
command -v docker-compose >/dev/null || die "docker-compose not found after install"

# --- 2 + 3. dockerd -----------------------------------------------------------------------------
engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if engine_up; then
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    say "dockerd already running (pid $(cat "$PIDFILE"), started by this script)"
  else
    say "a Docker engine not started by this script already answers; using it as it is"
  fi
else
  # Record the host settings before dockerd touches them. Only once: a second run after dockerd
  # has changed them must not overwrite the originals (teardown deletes this file when done).
  if [ ! -f "$SAVED" ]; then
    {
      echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
      echo "ipv6_forwarding=$(cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null || echo)"
      echo "forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}')"
      echo "docker0_existed=$(ip link show docker0 >/dev/null 2>&1 && echo 1 || echo 0)"
      echo "bridges_before=\"$(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | tr '\n' ' ')\""
    } > "$SAVED.tmp"
    mv "$SAVED.tmp" "$SAVED"
    say "saved host settings: $(tr '\n' ' ' < "$SAVED")"
  else
    say "host settings already saved: $(tr '\n' ' ' < "$SAVED")"
  fi
  # A stale pid file or socket from a killed run would make dockerd refuse to start.
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    die "dockerd (pid $(cat "$PIDFILE")) runs but does not answer; run .ci/docker-teardown.sh"
  fi
  rm -f "$PIDFILE" /var/run/docker.pid
  say "starting dockerd (log: $LOG)"
  # setsid: its own session, so it outlives this script and ignores the caller's signals.
  setsid dockerd --pidfile /var/run/docker.pid >>"$LOG" 2>&1 </dev/null &
  echo $! > "$PIDFILE"
  deadline=$(( $(date +%s) + WAIT_SECONDS ))
  until engine_up; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -n 40 "$LOG" >&2 || true
      die "dockerd exited during start (log above: $LOG)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 40 "$LOG" >&2 || true
      die "docker info did not answer within ${WAIT_SECONDS}s (log above: $LOG)"
    fi
    sleep 0.5
  done
  say "dockerd answers (pid $(cat "$PIDFILE"), $(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
fi

# --- 4. base image --------------------------------------------------------------------------------
NODE_BIN=$(readlink -f "$(command -v node)")
[ -x "$NODE_BIN" ] || die "no node binary on PATH"
NODE_SHA=$(sha256sum "$NODE_BIN" | cut -d' ' -f1)
NODE_VERSION=$("$NODE_BIN" --version)
# npm's package directory (npm-cli.js is <dir>/bin/npm-cli.js), wherever this machine installed it.
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "no npm next to node (looked in $NPM_DIR)"
NPM_VERSION=$(npm --version)

have_sha=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
have_recipe=$(docker image inspect -f "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$have_sha" = "$NODE_SHA" ] && [ "$have_recipe" = "$RECIPE" ] &&
   [ "$(docker run --rm "$IMAGE" node --version 2>/dev/null)" = "$NODE_VERSION" ]; then
  say "$IMAGE already holds this node ($NODE_VERSION) and recipe $RECIPE; not re-importing"
else
  say "building $IMAGE from $NODE_BIN ($NODE_VERSION)"
  ROOTFS=$(mktemp -d /tmp/ll-rootfs.XXXXXX)
  trap 'rm -rf "$ROOTFS"' EXIT
  # Copy a file to the same path in the rootfs, following symlinks.
  put() { mkdir -p "$ROOTFS$(dirname "$1")"; cp -L "$1" "$ROOTFS$1"; }
  mkdir -p "$ROOTFS"/{usr/local/bin,etc,tmp,root,data,app,proc,sys,dev}
  chmod 1777 "$ROOTFS/tmp"
  cp -L "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
  # npm where the real image has it, so `npm` and `npx` are on the PATH as there.
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  # The packages' programs and libraries (not their docs), links to files kept as links (/bin/sh
  # -> dash). Directories are skipped: on a merged-/usr host /bin is a link the rootfs does not need.
  # dpkg -L also prints "diverted by" notes: only absolute paths are files.
  dpkg -L $DEB_PACKAGES | grep '^/' | grep -Ev '^/usr/share/(doc|man|info|locale|lintian|menu)/' | sort -u |
    while read -r f; do
      if [ -d "$f" ]; then :
      elif [ -L "$f" ]; then mkdir -p "$ROOTFS$(dirname "$f")"; ln -sfn "$(readlink "$f")" "$ROOTFS$f"
      elif [ -f "$f" ]; then put "$f"
      fi
    done
  [ -x "$ROOTFS/bin/sh" ] && [ -x "$ROOTFS/usr/bin/env" ] || die "dash or coreutils gave no /bin/sh or /usr/bin/env"
  # Every library ldd lists (path after "=>") and the dynamic loader (a bare absolute path), for
  # node and every program copied above.
  find "$ROOTFS" -type f -perm -u+x | while read -r exe; do
    ldd "$exe" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' || true
  done | sort -u | while read -r lib; do put "$lib"; done
  compgen -G "$ROOTFS/lib*/ld-*.so*" >/dev/null || die "ldd listed no dynamic loader"
  # glibc >= 2.34 has files/dns NSS built into libc.so.6: no libnss_* needed for getaddrinfo.
  printf 'root:x:0:0:root:/root:/usr/local/bin/node\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$ROOTFS/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOTFS/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$ROOTFS/etc/nsswitch.conf"
  # Docker bind-mounts these at run time; empty files give it the mount points.
  : > "$ROOTFS/etc/hosts"; : > "$ROOTFS/etc/resolv.conf"; : > "$ROOTFS/etc/hostname"
  tar -C "$ROOTFS" -c . | docker import \
    --change "LABEL $LABEL=$NODE_SHA" \
    --change "LABEL org.lamport-ledger.node-version=$NODE_VERSION" \
    --change "LABEL $RECIPE_LABEL=$RECIPE" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /app' \
    --change 'CMD ["node"]' \
    - "$IMAGE" >/dev/null
  rm -rf "$ROOTFS"
  trap - EXIT
  got=$(docker run --rm "$IMAGE" node --version) || die "imported $IMAGE does not run node"
  [ "$got" = "$NODE_VERSION" ] || die "imported $IMAGE runs node $got, expected $NODE_VERSION"
  # What the project's Dockerfile relies on: sh, env finding node on the PATH, npm through both.
  got_npm=$(docker run --rm "$IMAGE" sh -c 'env node --version >/dev/null && npm --version') ||
    die "imported $IMAGE cannot run sh, env or npm"
  [ "$got_npm" = "$NPM_VERSION" ] || die "imported $IMAGE runs npm $got_npm, expected $NPM_VERSION"
  say "imported $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes), node $got, npm $got_npm, sh, coreutils"
fi

say "ready in $(( $(date +%s) - start_time ))s"
