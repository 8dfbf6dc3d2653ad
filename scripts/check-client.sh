#!/usr/bin/env bash
# A client generated from the served OpenAPI schema must compile with typed dates and enums and
# call search without a token. This generates a TypeScript client with openapi-generator (PyPI's
# openapi-generator-cli ships the generator's jar; it needs a Java runtime), compiles
# scripts/client-check.ts against it with `tsc --strict`, and runs that in Node against a server
# started here on a database of its own, which is dropped afterwards. Nothing generated is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

GENERATOR_VERSION=7.26.0
TYPESCRIPT_VERSION=5.9.3
TOOLS=.parkshare/tools
PY=.venv/bin/python

say() { echo "check-client: $*" >&2; }
die() { say "$*"; exit 1; }

apt_updated=
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
        || die "missing $*; run: sudo apt-get update && sudo apt-get install -y $*"
    if [ -z "$apt_updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v java >/dev/null 2>&1 || apt_install default-jre-headless
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ ! -x "$TOOLS/generator/bin/openapi-generator-cli" ]; then
    say "installing openapi-generator-cli $GENERATOR_VERSION into $TOOLS/generator"
    python3 -m venv "$TOOLS/generator"
    "$TOOLS/generator/bin/pip" install --quiet --disable-pip-version-check "openapi-generator-cli==$GENERATOR_VERSION"
fi
if [ ! -x "$TOOLS/node/node_modules/.bin/tsc" ]; then
    say "installing typescript $TYPESCRIPT_VERSION into $TOOLS/node"
    mkdir -p "$TOOLS/node"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "typescript@$TYPESCRIPT_VERSION" >/dev/null
fi

work=$(mktemp -d)
server=
database_url=$("$PY" -c '
import os
from sqlalchemy.engine import make_url
from app.settings import Settings
url = make_url(Settings().database_url).set(database=f"parkshare_client_check_{os.getppid()}")
print(url.render_as_string(hide_password=False))')
cleanup() {
    local status=$?
    set +e
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null
        wait "$server" 2>/dev/null
    fi
    "$PY" -c 'import asyncio, sys; from app.migrations import drop_database; asyncio.run(drop_database(sys.argv[1]))' \
        "$database_url"
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

.venv/bin/parkshare openapi --write "$work/openapi.json" >/dev/null 2>&1
"$TOOLS/generator/bin/openapi-generator-cli" generate --input-spec "$work/openapi.json" \
    --generator-name typescript-fetch --output "$work/client" >"$work/generator.log" 2>&1 \
    || { cat "$work/generator.log" >&2; die "the generator refused the schema"; }
cp scripts/client-check.ts "$work/check.ts"
"$TOOLS/node/node_modules/.bin/tsc" --strict --target es2020 --module commonjs \
    --lib es2020,dom --outDir "$work/out" "$work/check.ts" \
    || die "the generated client does not compile with tsc --strict"
say "the generated client compiles with tsc --strict"

DATABASE_URL=$database_url LOG_LEVEL=WARNING .venv/bin/parkshare migrate >/dev/null
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The client's owner publishes right after signing up: it has no mailbox to confirm from.
DATABASE_URL=$database_url SCHEDULER_ENABLED=false LOG_LEVEL=WARNING REQUIRE_EMAIL_VERIFICATION=false \
    .venv/bin/parkshare serve --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; die "the server did not start"; }
    sleep 0.2
done
PARKSHARE_URL="http://127.0.0.1:$port" node "$work/out/check.js"
