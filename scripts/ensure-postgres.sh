#!/usr/bin/env bash
# Makes sure a PostgreSQL with btree_gist and PostGIS is reachable for development and tests.
#
# With DATABASE_URL set (in the environment or in .env) the server is the user's business and this
# script only says so. Without it, the local Debian cluster on 127.0.0.1:5432 is used: it is
# installed, started and given PostGIS when missing (as root), and a local role and password
# `parkshare`/`parkshare` is created for the default DATABASE_URL. Anything it cannot do itself it
# reports in one line saying what to run.
set -euo pipefail

PG_PORT=5432
PG_VERSION_WANTED=15
ROLE=parkshare

say() { echo "ensure-postgres: $*" >&2; }
die() { echo "ensure-postgres: $*" >&2; exit 1; }

if [ -z "${DATABASE_URL:-}" ] && [ -f .env ]; then
    DATABASE_URL=$(sed -n 's/^[[:space:]]*DATABASE_URL[[:space:]]*=[[:space:]]*//p' .env | tail -n 1 | tr -d "\"'")
fi
if [ -n "${DATABASE_URL:-}" ]; then
    say "DATABASE_URL is set; using that server as it is (it needs the btree_gist and postgis extensions)."
    exit 0
fi

is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=
apt_install() {
    is_root || die "missing packages; run: sudo apt-get update && sudo apt-get install -y $*"
    command -v apt-get >/dev/null 2>&1 || die "missing $*; install PostgreSQL ${PG_VERSION_WANTED}+ with PostGIS 3 and set DATABASE_URL."
    if [ -z "$apt_updated" ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Runs SQL as a superuser of the local cluster: over TCP where the server trusts it, else over the
# Unix socket as the postgres system user (Debian's default peer authentication).
psql_super() {
    if PGCONNECT_TIMEOUT=3 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -w -c 'select 1' >/dev/null 2>&1; then
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -w -tA "$@"
    elif is_root && command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres -tA "$@")
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        (cd / && sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres -tA "$@")
    else
        die "cannot reach the local PostgreSQL as a superuser; run as root once, or set DATABASE_URL."
    fi
}

# 1. The server itself.
if ! command -v pg_lsclusters >/dev/null 2>&1; then
    say "PostgreSQL is not installed."
    apt_install "postgresql-${PG_VERSION_WANTED}" "postgresql-${PG_VERSION_WANTED}-postgis-3" postgresql-client
fi
cluster=$(pg_lsclusters -h | awk -v port="$PG_PORT" '$3 == port {print $1 " " $2 " " $4; exit}')
if [ -z "$cluster" ]; then
    version=$(pg_lsclusters -h | awk '{print $1}' | sort -n | tail -n 1)
    [ -n "$version" ] || version=$PG_VERSION_WANTED
    is_root || die "no PostgreSQL cluster on port $PG_PORT; run: sudo pg_createcluster --start -p $PG_PORT $version main"
    say "creating cluster $version/main on port $PG_PORT"
    pg_createcluster -p "$PG_PORT" "$version" main >/dev/null
    cluster="$version main down"
fi
read -r version name status <<<"$cluster"
if [ "$status" != online ]; then
    is_root || die "PostgreSQL $version/$name is down; run: sudo pg_ctlcluster $version $name start"
    say "starting PostgreSQL $version/$name"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL on 127.0.0.1:$PG_PORT does not answer; see /var/log/postgresql/postgresql-$version-$name.log"

# 2. The extensions' packages (btree_gist ships with the server, PostGIS separately).
available() { psql_super -c "select count(*) from pg_available_extensions where name in ('btree_gist', 'postgis')"; }
if [ "$(available)" != 2 ]; then
    say "PostGIS is not installed for PostgreSQL $version."
    apt_install "postgresql-${version}-postgis-3"
    [ "$(available)" = 2 ] || die "btree_gist or postgis still missing; run: apt-get install postgresql-contrib postgresql-${version}-postgis-3"
fi

# 3. The development role. It is a superuser of this local cluster only because the migrations
#    create extensions and the tests create a database per run; production uses an ordinary role.
psql_super <<SQL >/dev/null
do \$\$
begin
    if not exists (select from pg_roles where rolname = '$ROLE') then
        create role $ROLE login superuser password '$ROLE';
    end if;
end
\$\$;
SQL
say "PostgreSQL $version on 127.0.0.1:$PG_PORT is ready (role $ROLE, btree_gist and postgis available)."
