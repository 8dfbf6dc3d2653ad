#!/usr/bin/env bash
# Creates the project's virtual environment with a Python >= 3.11, or says what is missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null 2>&1; then
    echo "parkshare needs Python 3.11 or newer: install it (Debian: apt-get install python3 python3-venv) and run make again." >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "parkshare needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1). Run: make PYTHON=python3.11 ..." >&2
    exit 1
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
    exit 0
fi
rm -rf "$venv"
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "Could not create $venv: install the venv module (Debian: apt-get install python3-venv) and run make again." >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
