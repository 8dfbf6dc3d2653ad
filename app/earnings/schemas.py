from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field

from app.schemas import ResponseModel

Group = Literal["month", "spot"]


class EarningsLine(ResponseModel):
    period: str | None = Field(
        description="`YYYY-MM`, the month of the bookings' start in their spot's time zone "
        "(with `group=month`; else null)."
    )
    spot_id: uuid.UUID | None = Field(description="With `group=spot`; else null.")
    spot_title: str | None = Field(description="With `group=spot`; else null.")
    currency: str
    bookings: int = Field(description="How many paid bookings the line sums.")
    booked_cents: int = Field(description="What the bookings cost when paid (after any extension).")
    refunded_cents: int = Field(description="What cancellations refunded.")
    overstay_cents: int = Field(description="Overstay fees charged at check-out.")
    platform_fee_cents: int = Field(
        description="The platform's share: `PLATFORM_FEE_PERCENT` of each booking's booked minus "
        "refunded plus overstay, rounded half up per booking."
    )
    net_cents: int = Field(description="booked - refunded + overstay - platform fee.")


class Earnings(ResponseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="First local day counted.")
    to: date = Field(description="First local day no longer counted.")
    group: Group
    platform_fee_percent: str = Field(description='The operator\'s fee, e.g. `"0"` or `"12.5"`.')
    items: list[EarningsLine]
    totals: list[EarningsLine] = Field(description="One line per currency over the whole range.")
