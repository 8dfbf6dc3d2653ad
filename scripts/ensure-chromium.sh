#!/usr/bin/env bash
# Makes sure Debian's headless browser for the web app's tests (tests/test_web.py) is installed:
# `chromium` and its WebDriver `chromedriver`. Installs them as root with apt-get when missing, as
# scripts/ensure-postgres.sh does for PostgreSQL; otherwise says in one line what to run.
set -euo pipefail

say() { echo "ensure-chromium: $*" >&2; }
die() { echo "ensure-chromium: $*" >&2; exit 1; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
# The test workers may all get here at once: one installs, the others wait and find it installed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/parkshare-ensure-chromium.lock"
    flock 9
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        exit 0
    fi
fi
[ "$(id -u)" = 0 ] || die "chromium or chromedriver is missing; run: sudo apt-get update && sudo apt-get install -y chromium chromium-driver"
command -v apt-get >/dev/null 2>&1 || die "chromium or chromedriver is missing; install Chromium and its chromedriver and put both on PATH."
say "apt-get update"
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
say "apt-get install chromium chromium-driver"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
    || die "chromium or chromedriver still missing after apt-get; run: apt-get install -y chromium chromium-driver"
say "chromium $(chromium --version 2>/dev/null | awk '{print $2}') is ready."
