"""`parkshare serve|migrate|seed|worker|openapi|admin`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from app.logs import logging_config
from app.settings import Environment, Settings, get_settings


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            print(f"parkshare: invalid setting {field}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    return settings


def _cannot_listen(host: str, port: int, exc: OSError) -> SystemExit:
    if exc.errno == errno.EADDRINUSE:
        message = (
            f"port {port} on {host} is already in use; choose another with --port P (or make run PORT=P)"
        )
    else:
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    print(f"parkshare: {message}", file=sys.stderr)
    return SystemExit(1)


def _bind_error(host: str, port: int) -> OSError | None:
    """Binds the address once, before uvicorn does: uvicorn would only find a taken port after
    starting the app and its scheduler, and then answer with a page of tracebacks."""
    # The same family and option as uvicorn's own socket, so both agree on what is free.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    if (taken := _bind_error(args.host, args.port)) is not None:
        raise _cannot_listen(args.host, args.port, taken)
    # Before the workers fork: they must all read the same development secret.
    settings.signing_secret()
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="parkshare-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    print(f"parkshare: serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level.lower(),
            proxy_headers=True,
            # Every worker process applies it: JSON or text lines on stderr, with the line per
            # request of app.logs.RequestLog instead of uvicorn's access log (which shows paths
            # and query strings).
            log_config=logging_config(settings.log_level, settings.log_format, request_log=args.access_log),
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
    except OSError as exc:
        raise _cannot_listen(args.host, args.port, exc) from None
    except SystemExit as exc:
        # Taken between the check and uvicorn's bind: uvicorn logs the error and exits, and the
        # user should still get the one line that says what to do.
        late = _bind_error(args.host, args.port) if exc.code else None
        if late is not None:
            raise _cannot_listen(args.host, args.port, late) from None
        raise
    finally:
        if args.workers > 1 and os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").startswith(
            tempfile.gettempdir()
        ):
            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def migrate(_: argparse.Namespace) -> None:
    from app.migrations import migrate as run_migrations

    settings = _settings()
    try:
        run_migrations(settings)
    except OSError as exc:
        print(
            f"parkshare: cannot reach the database ({exc}); is PostgreSQL running? `make db` prepares it.",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    print("parkshare: the database schema is at the newest migration")


def seed(args: argparse.Namespace) -> None:
    from app.seed import seed_demo

    settings = _settings()
    if settings.environment is Environment.production and not args.force:
        print(
            "parkshare: refusing to load demo data with ENVIRONMENT=production (use --force)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    summary = asyncio.run(
        seed_demo(settings, spots=args.spots, if_empty=args.if_empty, seed=args.seed, reset=args.reset)
    )
    print(f"parkshare: {summary}")


def worker(_: argparse.Namespace) -> None:
    from app.clock import simulate
    from app.db import Database
    from app.events import push
    from app.events.delivery import Deliverer
    from app.events.hub import Hub
    from app.scheduler import build_scheduler
    from app.wiring import wire

    settings = _settings()
    simulate(settings.simulated_clock_origin, settings.simulated_clock_speed)

    async def run() -> None:
        wire()
        database = Database.from_settings(settings)
        scheduler = build_scheduler(settings, database)
        hub = Hub(settings.plain_database_url)
        deliverer = Deliverer(database, settings, hub, push_sender=push.send)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler.start()
        await hub.start()
        await deliverer.start()
        logging.getLogger("parkshare.worker").info("scheduler and event delivery running; Ctrl-C stops them")
        try:
            await stop.wait()
        finally:
            await deliverer.stop()
            scheduler.shutdown(wait=False)
            await hub.stop()
            await database.dispose()

    asyncio.run(run())


def openapi(args: argparse.Namespace) -> None:
    from app.main import served_schema
    from app.openapi import dumps

    text = dumps(served_schema())
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)


async def set_admin_role(settings: Settings, email: str, *, grant: bool) -> str:
    """`parkshare admin grant|revoke EMAIL`, in one transaction with its audit row (no actor: the
    command line). Returns what it did; an unknown e-mail raises `NotFound`."""
    from app.admin.service import ADMIN, set_role
    from app.clock import utcnow
    from app.db import Database

    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session, session.begin():
            user = await set_role(session, email, ADMIN if grant else "user", utcnow())
            return f"{user.email} is {'an admin' if user.role == ADMIN else 'no admin'}"
    finally:
        await database.dispose()


def admin(args: argparse.Namespace) -> None:
    from app.errors import NotFound

    settings = _settings()
    try:
        message = asyncio.run(set_admin_role(settings, args.email, grant=args.action == "grant"))
    except NotFound as exc:
        print(f"parkshare: {exc.detail}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"parkshare: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parkshare", description="parkshare backend")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-access-log", dest="access_log", action="store_false", help="no log line per request")
    p.set_defaults(func=serve)

    p = commands.add_parser("migrate", help="create the database if needed and apply all migrations")
    p.set_defaults(func=migrate)

    p = commands.add_parser("seed", help="load demo data of Dortmund's Kreuzviertel")
    p.add_argument("--spots", type=int, default=36, help="how many spots (default 36)")
    p.add_argument("--seed", type=int, default=2026, help="random seed, for repeatable data")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--if-empty", action="store_true", help="do nothing when demo data is already there")
    again.add_argument(
        "--reset",
        action="store_true",
        help="first remove the demo accounts with their spots and bookings, then load the demo anew, "
        "dated from now",
    )
    p.add_argument("--force", action="store_true", help="allow with ENVIRONMENT=production")
    p.set_defaults(func=seed)

    p = commands.add_parser("worker", help="run the background jobs without serving HTTP")
    p.set_defaults(func=worker)

    p = commands.add_parser(
        "openapi", help="print the OpenAPI document as served (make openapi-snapshot writes it)"
    )
    p.add_argument("--write", type=Path, metavar="FILE", help="write the document here")
    p.set_defaults(func=openapi)

    p = commands.add_parser("admin", help="grant or revoke the admin role (written to the audit log)")
    p.add_argument("action", choices=["grant", "revoke"])
    p.add_argument("email", help="the account's e-mail")
    p.set_defaults(func=admin)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
