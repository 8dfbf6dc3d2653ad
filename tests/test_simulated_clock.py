"""The simulated clock of development and benchmarks (SIMULATED_CLOCK_SPEED, docs/jobs.md): refused
in production, shared by every process of a run, and never what the scheduler waits by."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app import clock
from app.db import Database
from app.scheduler import build_scheduler
from app.settings import Environment, Settings

RAW_KEY = "S5w2eWJsmSJ7ZXWV7Vr_9glQNVnt8HcWXcNMQo5J6bE"


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def fast_clock() -> Iterator[datetime]:
    """This process's clock runs ten times as fast from a minute ago: nine minutes ahead."""
    origin = datetime.now(UTC) - timedelta(minutes=1)
    clock.simulate(origin, 10)
    try:
        yield origin
    finally:
        clock.simulate(None, 1)


def test_production_refuses_a_simulated_clock() -> None:
    origin = datetime(2026, 11, 26, 12, tzinfo=UTC)
    with pytest.raises(ValidationError, match="SIMULATED_CLOCK_SPEED must be 1"):
        make(
            environment=Environment.production,
            jwt_secret="x" * 32,
            vapid_private_key=RAW_KEY,
            simulated_clock_speed=10,
            simulated_clock_origin=origin,
        )
    real = make(environment=Environment.production, jwt_secret="x" * 32, vapid_private_key=RAW_KEY)
    assert real.simulated_clock_speed == 1


def test_a_speed_needs_an_origin_with_a_time_zone() -> None:
    with pytest.raises(ValidationError, match="needs SIMULATED_CLOCK_ORIGIN"):
        make(simulated_clock_speed=10)
    with pytest.raises(ValidationError, match="time zone"):
        make(simulated_clock_speed=10, simulated_clock_origin=datetime(2026, 11, 26, 12))
    with pytest.raises(ValidationError):
        make(simulated_clock_speed=0.5, simulated_clock_origin=datetime(2026, 11, 26, 12, tzinfo=UTC))


def test_processes_started_apart_read_the_same_time() -> None:
    origin = datetime(2026, 11, 26, 12, tzinfo=UTC)
    # The time is a function of the wall clock alone, not of when a process began.
    assert clock.simulated(origin, 10, origin) == origin
    assert clock.simulated(origin, 10, origin + timedelta(seconds=30)) == origin + timedelta(minutes=5)
    assert clock.simulated(origin, 1, origin + timedelta(seconds=30)) == origin + timedelta(seconds=30)


def test_utcnow_runs_fast_once_simulated_and_real_again_after(fast_clock: datetime) -> None:
    ahead = clock.utcnow() - datetime.now(UTC)
    assert timedelta(minutes=8, seconds=50) < ahead < timedelta(minutes=10)
    clock.simulate(None, 1)
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_scheduler_starts_its_jobs_by_the_wall_clock(
    fast_clock: datetime, settings: Settings, db: Database
) -> None:
    # APScheduler waits by the wall clock: a first run set at the fast clock's time would come
    # only when the wall clock got there (here nine minutes late; in a benchmark never).
    scheduler = build_scheduler(settings, db)
    # Before the start, only the jobs given a first run (`at_start`) have one.
    first = {job.id: getattr(job, "next_run_time", None) for job in scheduler.get_jobs()}
    real = datetime.now(UTC)
    assert abs(first["sweep_bookings"] - real) < timedelta(seconds=5)
    assert abs(first["send_reminders"] - real) < timedelta(seconds=5)
