"""Availability's background jobs. `extend_open_ranges` itself stays beside the other writers of
`spot_open_ranges` in materialize.py."""

from __future__ import annotations

from datetime import timedelta

from app.availability.materialize import extend_open_ranges
from app.jobs import Job
from app.settings import Settings


def jobs(settings: Settings) -> list[Job]:
    # Hourly, though each spot needs it daily: a spot whose ranges fall short is soon picked up.
    return [Job(extend_open_ranges, every=timedelta(hours=1), at_start=True)]
