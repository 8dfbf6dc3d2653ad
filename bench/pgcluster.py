"""A private PostgreSQL cluster that the fault benchmark and its test may stop and restart.

The development cluster (port 5432) serves everyone's tests, so it is never restarted; the faults
run on a cluster of their own, made here when missing (Debian's `pg_createcluster`, as root), with
the same role `parkshare`/`parkshare` and the system-wide btree_gist and PostGIS. Idempotent:

    .venv/bin/python -m bench.pgcluster [--port 5434] [--name parkshare_faults]

prints the DATABASE_URL base of a running cluster, making and starting it first when needed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROLE = "parkshare"
BENCH_CLUSTER = ("parkshare_faults", 5434)
TEST_CLUSTER = ("parkshare_faults_test", 5435)


class ClusterUnavailable(SystemExit):
    """What to run instead, in one line."""


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}:{ROLE}@127.0.0.1:{self.port}/{database}"

    def ctl(self, action: str, *extra: str) -> None:
        """`pg_ctlcluster` start, stop or restart of this cluster only (never 15/main)."""
        subprocess.run(
            [_tool("pg_ctlcluster"), "--skip-systemctl-redirect", self.version, self.name, action, *extra],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def ready(self) -> bool:
        return (
            subprocess.run(
                [_tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            ).returncode
            == 0
        )

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL {self.version}/{self.name} does not answer on {self.port}")
            time.sleep(0.05)


def _tool(name: str) -> str:
    """The full path of a PostgreSQL tool (postgresql-common puts them on PATH)."""
    return shutil.which(name) or name


def _instructions(name: str, port: int) -> str:
    return (
        f"bench.pgcluster: this needs root on Debian with postgresql-common and PostGIS (it makes and "
        f"restarts its own cluster {name} on port {port}); run as root: "
        f"apt-get install -y postgresql-15 postgresql-15-postgis-3 && .venv/bin/python -m bench.pgcluster"
    )


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    # Two test processes (pytest-xdist) may ask at once.
    with open(Path(tempfile.gettempdir()) / f"{name}.cluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _clusters() -> list[list[str]]:
    out = subprocess.run([_tool("pg_lsclusters"), "-h"], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def ensure_cluster(name: str = BENCH_CLUSTER[0], port: int = BENCH_CLUSTER[1]) -> Cluster:
    """The running cluster `name` on 127.0.0.1:`port`, created and started when missing."""
    if os.geteuid() != 0 or not shutil.which("pg_createcluster") or not shutil.which("pg_ctlcluster"):
        raise ClusterUnavailable(_instructions(name, port))
    with _locked(name):
        found = [c for c in _clusters() if c[1] == name]
        if found:
            version, _, found_port, status = found[0][:4]
            if int(found_port) != port:
                raise ClusterUnavailable(
                    f"bench.pgcluster: cluster {version}/{name} listens on {found_port}, not {port}; "
                    f"run: pg_dropcluster --stop {version} {name}"
                )
        else:
            versions = sorted({c[0] for c in _clusters()}, key=float) or ["15"]
            version, status = versions[-1], "down"
            taken = [c for c in _clusters() if int(c[2]) == port]
            if taken:
                raise ClusterUnavailable(
                    f"bench.pgcluster: port {port} is taken by cluster {taken[0][0]}/{taken[0][1]}; "
                    "choose another with --port"
                )
            subprocess.run(
                [
                    _tool("pg_createcluster"), version, name, "-p", str(port),
                    # Durable like production: the benchmark counts lost acknowledged writes.
                    "-o", "max_connections=200", "-o", "fsync=on", "-o", "synchronous_commit=on",
                    "--", "--auth-local=peer", "--auth-host=scram-sha-256",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        cluster = Cluster(version, name, port)
        if status != "online":
            cluster.ctl("start")
        cluster.wait_ready()
        _ensure_role(cluster)
    return cluster


def _ensure_role(cluster: Cluster) -> None:
    # A superuser of this scratch cluster only: the migrations create extensions.
    sql = (
        f"do $$ begin if not exists (select from pg_roles where rolname = '{ROLE}') then "
        f"create role {ROLE} login superuser password '{ROLE}'; end if; end $$;"
    )
    subprocess.run(
        [_tool("runuser"), "-u", "postgres", "--", "psql", "-X", "-q", "-p", str(cluster.port), "-d", "postgres",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        cwd="/",
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default=BENCH_CLUSTER[0])
    parser.add_argument("--port", type=int, default=BENCH_CLUSTER[1])
    args = parser.parse_args()
    cluster = ensure_cluster(args.name, args.port)
    print(cluster.url("postgres").rsplit("/", 1)[0])


if __name__ == "__main__":
    main()
