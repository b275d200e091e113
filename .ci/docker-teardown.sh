#!/usr/bin/env bash
# Undo .ci/docker-setup.sh: remove the tests' leftovers (compose containers, networks, volumes;
# swarm stacks, their volumes and secrets, and a swarm test/docker/swarm.test.ts made; image tags,
# build-stage images), stop the dockerd it started, and put back what dockerd changed on the host
# (iptables FORWARD policy, its iptables chains and rules, ip_forward, the docker0 and
# docker_gwbridge bridges).
# Idempotent; a Docker engine this script did not start is left running. The installed packages
# and the node:20-slim image (in /var/lib/docker) are kept, so a second setup is quick.
set -euo pipefail

STATE_DIR=${LL_DOCKER_STATE_DIR:-/var/tmp/lamport-ledger-docker}
PIDFILE=$STATE_DIR/dockerd.pid
SAVED=$STATE_DIR/saved-host-settings

say() { printf '[docker-teardown] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "[docker-teardown] must run as root" >&2; exit 1; }

# --- compose leftovers of the tests (project names ll-test-*) ------------------------------------
if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
  projects=$(docker ps -a --filter label=com.docker.compose.project \
               --format '{{ .Label "com.docker.compose.project" }}' | grep '^ll-test-' | sort -u || true)
  for p in $projects; do
    say "removing leftover compose project $p"
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$p")
    [ -n "$ids" ] && docker rm -f $ids >/dev/null || true
  done
  for n in $(docker network ls -q --filter label=com.docker.compose.project 2>/dev/null); do
    proj=$(docker network inspect -f '{{ index .Labels "com.docker.compose.project" }}' "$n" 2>/dev/null || true)
    case $proj in ll-test-*) docker network rm "$n" >/dev/null 2>&1 || true ;; esac
  done
  for v in $(docker volume ls -q --filter label=com.docker.compose.project 2>/dev/null); do
    proj=$(docker volume inspect -f '{{ index .Labels "com.docker.compose.project" }}' "$v" 2>/dev/null || true)
    case $proj in ll-test-*) docker volume rm "$v" >/dev/null 2>&1 || true ;; esac
  done
  # --- swarm leftovers of the tests (stacks ll-test-*), and a swarm the swarm test made ---------
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; then
    for s in $(docker stack ls --format '{{.Name}}' 2>/dev/null | grep '^ll-test-' || true); do
      say "removing leftover swarm stack $s"
      docker stack rm "$s" >/dev/null 2>&1 || true
    done
    # stack rm does not wait for the containers (nor the networks, which go after them).
    for _ in $(seq 1 60); do
      left=$(docker ps -a --filter label=com.docker.stack.namespace --format '{{ .Label "com.docker.stack.namespace" }}' 2>/dev/null | grep '^ll-test-' || true)
      left=$left$(docker network ls --filter name=ll-test- --format '{{.Name}}' 2>/dev/null || true)
      [ -z "$left" ] && break
      sleep 0.5
    done
    for sec in $(docker secret ls --format '{{.Name}}' 2>/dev/null | grep '^ll-test-' || true); do
      docker secret rm "$sec" >/dev/null 2>&1 || true
    done
    made=$(docker node inspect self -f '{{ index .Spec.Labels "org.lamport-ledger.test-swarm" }}' 2>/dev/null || true)
    gwbridge=$(docker node inspect self -f '{{ index .Spec.Labels "org.lamport-ledger.test-gwbridge" }}' 2>/dev/null || true)
    if [ -n "$made" ] && [ "$made" != "<no value>" ]; then
      say "leaving the swarm the swarm test made ($made)"
      docker swarm leave --force >/dev/null 2>&1 || true
      [ "$gwbridge" = 1 ] && docker network rm docker_gwbridge >/dev/null 2>&1 || true
    fi
  fi
  # The stacks' volumes and networks (an overlay network may outlive a swarm left in a hurry).
  for n in $(docker network ls --format '{{.Name}}' 2>/dev/null | grep '^ll-test-.*_ledger$' || true); do
    docker network rm "$n" >/dev/null 2>&1 || true
  done
  for v in $(docker volume ls -q --filter label=com.docker.stack.namespace 2>/dev/null); do
    ns=$(docker volume inspect -f '{{ index .Labels "com.docker.stack.namespace" }}' "$v" 2>/dev/null || true)
    case $ns in ll-test-*) say "removing leftover volume $v"; docker volume rm "$v" >/dev/null 2>&1 || true ;; esac
  done
  # The image tags the tests build (ll-test-<hex>:latest), removed by name: the same image may
  # also carry a tag of the user's, which stays.
  for ref in $(docker image ls --filter 'reference=ll-test-*' --format '{{.Repository}}:{{.Tag}}' 2>/dev/null); do
    say "removing leftover test image $ref"
    docker image rm "$ref" >/dev/null 2>&1 || true
  done
  # The Dockerfile's build stage, which the legacy builder leaves behind untagged (only a cache).
  docker image prune -f --filter label=org.lamport-ledger.stage=build >/dev/null 2>&1 || true
fi

# --- dockerd --------------------------------------------------------------------------------------
if [ -s "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd did not stop within 30s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
  else
    say "dockerd (pid $pid) is no longer running"
  fi
  rm -f "$PIDFILE"
else
  say "no dockerd started by docker-setup.sh"
fi

# --- host settings ----------------------------------------------------------------------------------
if [ -f "$SAVED" ]; then
  ip_forward=; ipv6_forwarding=; forward_policy=; docker0_existed=; bridges_before=
  # shellcheck disable=SC1090
  . "$SAVED"
  if command -v iptables >/dev/null; then
    # Rules dockerd added to the built-in chains, then its own chains.
    for table in filter nat; do
      iptables -t "$table" -S 2>/dev/null |
        grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' |
        grep -E 'DOCKER|docker0|docker_gwbridge|br-[0-9a-f]{12}' |
        while read -r rule; do
          # shellcheck disable=SC2086
          iptables -t "$table" -D ${rule#-A } 2>/dev/null || true
        done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        iptables -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        iptables -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
    if [ -n "$forward_policy" ]; then
      iptables -P FORWARD "$forward_policy"
      say "iptables FORWARD policy restored to $forward_policy"
    fi
  fi
  if [ -n "$ip_forward" ]; then
    echo "$ip_forward" > /proc/sys/net/ipv4/ip_forward
    say "net.ipv4.ip_forward restored to $ip_forward"
  fi
  if [ -n "$ipv6_forwarding" ] && [ -w /proc/sys/net/ipv6/conf/all/forwarding ]; then
    echo "$ipv6_forwarding" > /proc/sys/net/ipv6/conf/all/forwarding
  fi
  if [ "$docker0_existed" = 0 ] && ip link show docker0 >/dev/null 2>&1; then
    ip link delete docker0 2>/dev/null && say "removed the docker0 bridge" || true
  fi
  # Bridges of compose networks (br-<12 hex>) and of swarm (docker_gwbridge) dockerd left behind,
  # if they were not there before.
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^(br-[0-9a-f]{12}|docker_gwbridge)$' || true); do
    case " $bridges_before " in *" $br "*) ;; *) ip link delete "$br" 2>/dev/null && say "removed bridge $br" || true ;; esac
  done
  rm -f "$SAVED"
else
  say "no saved host settings to restore"
fi
say "done"
