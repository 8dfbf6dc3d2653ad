"""The answers of open data, named as ParkAPI v3 and DATEX II Parking Publication Light name them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas import ResponseModel, UtcDatetime

UID = "`parkshare:zone:<grid>-<row>-<column>`: stable for the cell, whatever spots it holds."


class ParkingSite(ResponseModel):
    uid: str = Field(description=UID)
    name: str = Field(
        description="The district when every spot of the zone names the same one, with the zone's "
        "id; else `parkshare zone <id>`."
    )
    type: Literal["ZONE"] = Field(description="Always `ZONE`: an area of many spots, never one.")
    purpose: Literal["CAR"] = "CAR"
    lat: float = Field(description="The centre of the zone's grid cell (WGS 84), not of its spots.")
    lon: float = Field(description="The centre of the zone's grid cell (WGS 84), not of its spots.")
    capacity: int = Field(
        description="How many listed spots the zone has (at least 5, of at least 3 owners)."
    )
    has_charging: bool = Field(description="At least 3 of the zone's spots have an EV charger.")
    max_height: int | None = Field(
        default=None,
        description="Centimetres: at least 3 of the zone's spots take a vehicle this high. Absent "
        "when at least 3 have no height limit.",
    )
    has_realtime_data: bool = Field(default=True, description="Free capacity is in the realtime list.")
    has_fee: bool = Field(default=True, description="Every spot is paid by the hour.")


class ParkingSites(ResponseModel):
    last_updated: UtcDatetime = Field(description="The start of the current 15-minute bucket.")
    ttl: int = Field(description="Seconds a copy stays current: 300.")
    license: Literal["dl-de/zero-2.0"] = Field(
        description="Datenlizenz Deutschland - Zero - Version 2.0: use freely, no attribution needed."
    )
    items: list[ParkingSite]


class ParkingSiteRealtime(ResponseModel):
    uid: str = Field(description=UID)
    realtime_free_capacity: int = Field(
        description="Spots of the zone free for the whole current 15-minute bucket, rounded down to "
        "an even number."
    )
    realtime_opening_status: Literal["OPEN", "CLOSED"] = Field(
        description="`OPEN` when any spot of the zone is offered at some time in the bucket."
    )
    realtime_data_updated_at: UtcDatetime = Field(description="The start of the bucket the values are for.")


class ParkingSitesRealtime(ResponseModel):
    last_updated: UtcDatetime = Field(description="The start of the current 15-minute bucket.")
    ttl: int = Field(description="Seconds a copy stays current: 300.")
    license: Literal["dl-de/zero-2.0"] = Field(
        description="Datenlizenz Deutschland - Zero - Version 2.0: use freely, no attribution needed."
    )
    items: list[ParkingSiteRealtime]
