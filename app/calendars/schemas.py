from __future__ import annotations

from pydantic import Field

from app.schemas import ResponseModel


class CalendarTokenOut(ResponseModel):
    url: str = Field(
        description="The feed's secret URL, with its token: subscribe to it in a calendar program. "
        "Issuing a new one revokes this one."
    )
