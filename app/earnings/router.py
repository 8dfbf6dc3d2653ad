from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from app import openapi
from app.clock import Now
from app.db import DbSession
from app.earnings import service
from app.earnings.schemas import Earnings, EarningsLine, Group
from app.errors import ValidationProblem, problem_openapi
from app.openapi import answer, problems
from app.settings import Settings
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["earnings"], responses=problem_openapi(401))

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(
    "/v1/me/earnings",
    response_model=Earnings,
    response_model_by_alias=True,
    operation_id="getMyEarnings",
    responses=openapi.merge(
        answer(200, openapi.EARNINGS),
        {200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": openapi.EARNINGS_CSV}}}},
        problems("validation_error"),
    ),
    summary="What my spots earned, per month or per spot",
    description="Sums the caller's spots' paid bookings (every booking that was ever confirmed) by the "
    "month of their start or by spot, per currency: booked, refunded, overstay fees, the platform fee "
    "(`PLATFORM_FEE_PERCENT`, per booking, rounded half up) and net. `from` and `to` are days in each "
    "spot's time zone (`to` not included), at most 366 days apart; by default the twelve months up to "
    "the end of this one. `Accept: text/csv` answers the same lines as CSV.",
)
async def get_my_earnings(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    now: Now,
    from_: Annotated[date | None, Query(alias="from", description="First day counted (YYYY-MM-DD).")] = None,
    to: Annotated[date | None, Query(description="First day not counted (YYYY-MM-DD).")] = None,
    group: Annotated[Group, Query()] = "month",
    accept: Annotated[str | None, Header()] = None,
) -> Response | Earnings:
    for name, day in (("from", from_), ("to", to)):
        if day is not None and not service.EARLIEST <= day <= service.LATEST:
            raise ValidationProblem.field(
                name, f"must be between {service.EARLIEST} and {service.LATEST}", where="query"
            )
    start, end = service.default_range(now)
    if from_ is not None or to is not None:
        # One end given: the year from it, or up to it.
        start = from_ or (to - timedelta(days=365) if to else start)
        end = to or start + timedelta(days=service.MAX_DAYS)
    fee = _settings(request).platform_fee_percent
    items, totals = await service.earnings(
        session, user.id, start=start, end=end, group=group, fee_percent=fee
    )
    if accept and "text/csv" in accept and "application/json" not in accept:
        return Response(
            _csv(items), media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": _filename(start, end)}
        )
    return Earnings.model_validate(
        {
            "from": start,
            "to": end,
            "group": group,
            "platform_fee_percent": str(fee),
            "items": items,
            "totals": totals,
        }
    )


def _filename(start: date, end: date) -> str:
    return f'attachment; filename="parkshare-earnings-{start.isoformat()}-{end.isoformat()}.csv"'


def _cell(value: object) -> str:
    if value is None:
        return ""
    # A spreadsheet would run a title like `=HYPERLINK(...)` as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return str(value)


def _csv(items: list[EarningsLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(service.CSV_COLUMNS)
    for item in items:
        writer.writerow([_cell(getattr(item, column)) for column in service.CSV_COLUMNS])
    return out.getvalue()
