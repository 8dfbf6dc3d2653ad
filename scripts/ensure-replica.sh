#!/usr/bin/env bash
# Makes sure a local hot standby of the development cluster streams on 127.0.0.1:5433, for
# READ_DATABASE_URL (docs/replica.md).
#
# The primary is the local Debian cluster on 127.0.0.1:5432 (scripts/ensure-postgres.sh). This
# script gives it a replication role and a loopback-only replication line in pg_hba.conf, reloads
# it (never restarts it), and keeps the Debian cluster <version>/replica on port 5433 as a standby
# made with `pg_basebackup -R -X stream`. A standby that already streams and keeps up is left
# alone; one that is down, promoted, not streaming or far behind is made anew. With DATABASE_URL
# pointing at another server it only says what it cannot do. Anything else it cannot do itself it
# reports in one line saying what to run.
#
# No replication slot: the primary keeps no WAL for a standby that died (a slot would keep it until
# the disk is full). A standby that fell too far behind therefore cannot catch up, and this script
# rebuilds it; that costs a copy of the whole cluster, which is small in development.
set -euo pipefail

PRIMARY_PORT=5432
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_NAME=${REPLICA_NAME:-replica}
# Seconds a standby gets to replay what the primary wrote before this script ran; past that it is
# "too far behind" and rebuilt.
CATCH_UP_SECONDS=${CATCH_UP_SECONDS:-60}
ROLE=parkshare_replication
# A development password for a role that may only replicate, only over loopback (pg_hba.conf).
PASSWORD=parkshare_replication
HBA_LINE="host    replication     $ROLE   127.0.0.1/32    scram-sha-256"

say() { echo "ensure-replica: $*" >&2; }
die() { echo "ensure-replica: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

if [ -z "${DATABASE_URL:-}" ] && [ -f .env ]; then
    DATABASE_URL=$(sed -n 's/^[[:space:]]*DATABASE_URL[[:space:]]*=[[:space:]]*//p' .env | tail -n 1 | tr -d "\"'")
fi
if [ -n "${DATABASE_URL:-}" ]; then
    # postgresql[+driver]://user:password@host:port/db: only the local cluster is this script's.
    hostport=$(sed -E 's#^[^:]+://([^@/]*@)?([^/?]*).*#\2#' <<<"$DATABASE_URL")
    host=${hostport%:*}
    port=${hostport##*:}
    [ "$port" != "$hostport" ] || port=5432
    case "$host:$port" in
        127.0.0.1:$PRIMARY_PORT | localhost:$PRIMARY_PORT) ;;
        *)
            die "DATABASE_URL points at $host:$port, not the local cluster on 127.0.0.1:$PRIMARY_PORT; make a standby of that server yourself (pg_basebackup -R -X stream) and set READ_DATABASE_URL to it."
            ;;
    esac
fi

command -v pg_lsclusters >/dev/null 2>&1 || die "PostgreSQL is not installed; run: scripts/ensure-postgres.sh"
is_root || die "making the standby needs root (a cluster of its own, the primary's pg_hba.conf); run: sudo $0"

# SQL as the postgres system user over the Unix socket of a local cluster (`$1` its port).
psql_at() {
    local port=$1
    shift
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -tA "$@")
}

# Two runs at once (the test suite's workers) would rebuild the standby under each other. The
# server this script starts must not inherit the lock (`9>&-`), or it would hold it for its life.
exec 9>/run/lock/parkshare-ensure-replica.lock
flock 9

read -r version primary_name primary_status < <(pg_lsclusters -h | awk -v port="$PRIMARY_PORT" '$3 == port {print $1, $2, $4; exit}') || true
[ -n "${version:-}" ] || die "no PostgreSQL cluster on port $PRIMARY_PORT; run: scripts/ensure-postgres.sh"
[ "$primary_status" = online ] || die "the primary $version/$primary_name is down; run: scripts/ensure-postgres.sh"

# 1. The primary: WAL for a standby (both PostgreSQL defaults, but settable only with a restart,
#    which this script never does), a role that may replicate, and a loopback replication line.
wal_level=$(psql_at "$PRIMARY_PORT" -c 'show wal_level')
senders=$(psql_at "$PRIMARY_PORT" -c 'show max_wal_senders')
if [ "$wal_level" = minimal ] || [ "$senders" -lt 2 ]; then
    die "the primary has wal_level=$wal_level, max_wal_senders=$senders; set wal_level=replica and max_wal_senders=10 in /etc/postgresql/$version/$primary_name/postgresql.conf and restart it when nobody uses it: pg_ctlcluster $version $primary_name restart"
fi
psql_at "$PRIMARY_PORT" >/dev/null <<SQL
do \$\$
begin
    if not exists (select from pg_roles where rolname = '$ROLE') then
        create role $ROLE login replication password '$PASSWORD';
    end if;
end
\$\$;
SQL
hba_file=$(psql_at "$PRIMARY_PORT" -c 'show hba_file')
if ! grep -Eq "^host[[:space:]]+replication[[:space:]]+$ROLE[[:space:]]+127\.0\.0\.1/32[[:space:]]" "$hba_file"; then
    say "allowing replication by $ROLE from 127.0.0.1 in $hba_file, and reloading $version/$primary_name"
    printf '\n# The local hot standby of scripts/ensure-replica.sh (loopback only).\n%s\n' "$HBA_LINE" >>"$hba_file"
    errors=$(psql_at "$PRIMARY_PORT" -c 'select count(*) from pg_hba_file_rules where error is not null')
    [ "$errors" = 0 ] || die "$hba_file has errors after the edit (see pg_hba_file_rules); fix it, then run: pg_ctlcluster $version $primary_name reload"
    psql_at "$PRIMARY_PORT" -c 'select pg_reload_conf()' >/dev/null
fi

# 2. Is there a standby that works? In recovery, streaming from the primary, and replaying what
#    the primary had written when we asked within CATCH_UP_SECONDS.
replica_cluster=$(pg_lsclusters -h | awk -v port="$REPLICA_PORT" '$3 == port {print $1 "/" $2; exit}')
if [ -n "$replica_cluster" ] && [ "$replica_cluster" != "$version/$REPLICA_NAME" ]; then
    die "port $REPLICA_PORT belongs to cluster $replica_cluster, not $version/$REPLICA_NAME; run with REPLICA_PORT=<a free port> (and READ_DATABASE_URL on that port)."
fi
exists() { pg_lsclusters -h | awk -v v="$version" -v n="$REPLICA_NAME" '$1 == v && $2 == n {found = 1} END {exit !found}'; }

healthy() {
    local status recovery receiver target replayed
    status=$(pg_lsclusters -h | awk -v v="$version" -v n="$REPLICA_NAME" '$1 == v && $2 == n {print $4}')
    if [ "${status%%,*}" != online ]; then
        say "$version/$REPLICA_NAME is down; starting it"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$REPLICA_NAME" start >/dev/null 2>&1 9>&- || return 1
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT" && break
        sleep 1
    done
    recovery=$(psql_at "$REPLICA_PORT" -c 'select pg_is_in_recovery()' 2>/dev/null) || return 1
    [ "$recovery" = t ] || { say "$version/$REPLICA_NAME is not in recovery (promoted?)"; return 1; }
    # A test or a person may have paused replay and not resumed it.
    psql_at "$REPLICA_PORT" -c 'select pg_wal_replay_resume() where pg_is_wal_replay_paused()' >/dev/null
    target=$(psql_at "$PRIMARY_PORT" -c 'select pg_current_wal_lsn()')
    for _ in $(seq 1 "$CATCH_UP_SECONDS"); do
        receiver=$(psql_at "$REPLICA_PORT" -c "select count(*) from pg_stat_wal_receiver where status = 'streaming'")
        replayed=$(psql_at "$REPLICA_PORT" -c "select pg_last_wal_replay_lsn() >= '$target'::pg_lsn")
        if [ "$receiver" = 1 ] && [ "$replayed" = t ]; then
            return 0
        fi
        sleep 1
    done
    say "$version/$REPLICA_NAME is not streaming or more than ${CATCH_UP_SECONDS}s behind"
    return 1
}

if exists && healthy; then
    say "the standby $version/$REPLICA_NAME on 127.0.0.1:$REPLICA_PORT is streaming from $version/$primary_name and up to date."
    exit 0
fi

# 3. A standby made anew: an empty cluster for its configuration, its data directory replaced by
#    a base backup of the primary that starts as a standby (-R: standby.signal, primary_conninfo).
started=$(date +%s)
if exists; then
    say "dropping the broken standby $version/$REPLICA_NAME"
    pg_dropcluster --stop "$version" "$REPLICA_NAME"
fi
say "creating cluster $version/$REPLICA_NAME on port $REPLICA_PORT"
pg_createcluster -p "$REPLICA_PORT" "$version" "$REPLICA_NAME" >/dev/null
conf_dir=/etc/postgresql/$version/$REPLICA_NAME
data_dir=$(sed -n "s/^[[:space:]]*data_directory[[:space:]]*=[[:space:]]*'\(.*\)'.*/\1/p" "$conf_dir/postgresql.conf")
[ -n "$data_dir" ] && [ -d "$data_dir" ] || die "cannot find the data directory of $version/$REPLICA_NAME in $conf_dir/postgresql.conf"
# A hot standby refuses to start with fewer of these than its primary has.
limits=$(psql_at "$PRIMARY_PORT" -F ' = ' -c "select name, setting from pg_settings where name in ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')")
cat >"$conf_dir/conf.d/parkshare-replica.conf" <<CONF
# Written by scripts/ensure-replica.sh: a hot standby of $version/$primary_name.
listen_addresses = '127.0.0.1'
port = $REPLICA_PORT
hot_standby = on
# The primary keeps rows a long search on the standby still reads, rather than the standby
# cancelling the search when replay removes them.
hot_standby_feedback = on
$limits
CONF
chown postgres:postgres "$conf_dir/conf.d/parkshare-replica.conf"
find "$data_dir" -mindepth 1 -delete
say "copying $version/$primary_name with pg_basebackup (this takes as long as the cluster is large)"
(cd / && runuser -u postgres -- env PGPASSWORD="$PASSWORD" pg_basebackup \
    -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$ROLE" -D "$data_dir" -R -X stream -c fast -w)
pg_ctlcluster --skip-systemctl-redirect "$version" "$REPLICA_NAME" start 9>&-
healthy || die "the new standby does not stream; see /var/log/postgresql/postgresql-$version-$REPLICA_NAME.log"
say "the standby $version/$REPLICA_NAME on 127.0.0.1:$REPLICA_PORT streams from $version/$primary_name (made in $(($(date +%s) - started))s)."
