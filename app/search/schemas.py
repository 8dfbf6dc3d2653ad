from __future__ import annotations

from pydantic import Field

from app.schemas import ResponseModel
from app.spots.schemas import SpotOut


class SearchQuote(ResponseModel):
    total_cents: int
    currency: str


class SearchItem(ResponseModel):
    spot: SpotOut = Field(description="The public view of the spot")
    distance_m: float = Field(
        description="Metres from the searched point to the spot's public (rounded) location, on the "
        "WGS 84 spheroid, rounded to 10 m; `radius_m` is measured the same way"
    )
    quote: SearchQuote = Field(description="The price of exactly the searched interval")


class SearchPage(ResponseModel):
    items: list[SearchItem]
    next_cursor: str | None
