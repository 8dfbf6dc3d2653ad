"""Many processes, each job once: `bench.jobs_once` in a short form. Four serving processes and two
`parkshare worker`s, all running the jobs and the webhook delivery on a clock twenty times as fast,
expire, complete, remind and mark no-shows once each and deliver each event once, while a few
thousand racing attempts on 50 spots leave no overlap (docs/jobs.md)."""

from __future__ import annotations

import pytest

from app.db import Database
from app.settings import Settings
from bench.jobs_once import Run, execute

pytestmark = pytest.mark.slow


@pytest.mark.real_clock
async def test_each_job_once_across_six_processes(settings: Settings, committed_db: Database) -> None:
    run = Run(
        minutes=3,
        speed=20,
        attempts=2000,
        spots=50,
        clients=16,
        users=60,
        jobs_spots=20,
        jobs_drivers=12,
    )
    report = await execute(settings.database_url, run)

    assert report.failures() == []
    # Every kind of work came up, so "none twice, none missed" says something.
    for kind in (
        "booking.expired",
        "booking.completed",
        "booking.no_show",
        "booking.starts_soon",
        "booking.ends_soon",
    ):
        assert report.counts[kind]["bookings"] > 0, kind
        assert report.counts[kind]["events"] == report.counts[kind]["bookings"], kind
    webhook = report.counts["webhook"]
    assert webhook["expected"] > 0
    assert webhook["deliveries"] == webhook["received"] == webhook["expected"]
    # Every attempt was answered, and some won and some lost the race.
    assert sum(report.answers.values()) == run.attempts
    assert report.answers["201"] > 0
    assert report.answers["409 slot_unavailable"] > 0
    assert report.active_race > 0
    assert report.overlaps == 0
