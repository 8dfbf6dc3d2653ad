#!/usr/bin/env bash
# Makes sure Debian's `faketime` is there: `make test-future` runs the suite with the process clock
# moved a year ahead, to prove that no test depends on the day it runs. Installs it as root, or says
# in one line what to run.
set -euo pipefail

command -v faketime >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure-faketime: faketime is missing; run: sudo apt-get update && sudo apt-get install -y faketime" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-faketime: faketime is missing; install libfaketime's faketime command" >&2
    exit 1
fi
echo "ensure-faketime: apt-get install faketime" >&2
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null
