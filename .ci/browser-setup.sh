#!/usr/bin/env bash
# Provide the headless browser the trace viewer's browser test drives (test/e2e/trace-browser.test.ts):
# Debian's chromium at /usr/bin/chromium. Playwright's own browser downloads are never used (no
# host but the npm registry and Debian's archive is reachable).
#
# Idempotent, non-interactive, runs as root with no stdin.
set -euo pipefail

say() { printf '[browser-setup] %s\n' "$*"; }
die() { printf '[browser-setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed' && [ -x /usr/bin/chromium ]; then
  say "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
  exit 0
fi

say "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
[ "${LL_APT_UPDATED:-0}" = 1 ] || apt-get update -qq </dev/null  # .ci/run refreshes the lists once
apt-get install -y -qq --no-install-recommends chromium </dev/null
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after install"
say "installed: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
