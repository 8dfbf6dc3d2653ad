from __future__ import annotations

import math
import uuid
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from app.schemas import (
    Currency,
    Rating,
    RequestModel,
    ResponseModel,
    StrictBool,
    StrictFloat,
    StrictInt,
    UtcDatetime,
    line,
    text,
)
from booking import BookingPolicy
from booking.availability import GRANULARITIES
from booking.pricing import CancellationPolicy


class Connector(StrEnum):
    type2 = "type2"
    ccs = "ccs"
    chademo = "chademo"
    schuko = "schuko"
    tesla = "tesla"


class Address(RequestModel):
    street: Annotated[str, line(120)]
    house_number: Annotated[
        str, line(16), Field(pattern=r"^[0-9]{1,5}\s?[a-zA-Z]?(\s?[-/]\s?[0-9]{1,5}\s?[a-zA-Z]?)?$")
    ]
    postal_code: Annotated[str, line(10), Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z -]{1,8}[0-9A-Za-z]$")]
    city: Annotated[str, line(80)]
    district: Annotated[str, line(80)] | None = None


class Location(RequestModel):
    lat: Annotated[StrictFloat, Field(ge=-90, le=90, description="WGS 84 latitude")]
    lon: Annotated[StrictFloat, Field(ge=-180, le=180, description="WGS 84 longitude")]

    @model_validator(mode="after")
    def _finite(self) -> Location:
        if not (math.isfinite(self.lat) and math.isfinite(self.lon)):
            raise ValueError("coordinates must be finite numbers")
        return self


class EvCharger(RequestModel):
    connector: Connector
    power_kw: Annotated[StrictFloat, Field(gt=0, le=400)]


class Features(RequestModel):
    covered: StrictBool = False
    ev_charger: EvCharger | None = None
    wheelchair_accessible: StrictBool = False
    lit: StrictBool = False


class MaxVehicle(RequestModel):
    length_cm: Annotated[StrictInt, Field(ge=100, le=2000)]
    width_cm: Annotated[StrictInt, Field(ge=50, le=400)]
    height_cm: Annotated[StrictInt, Field(ge=50, le=500)]


class Pricing(RequestModel):
    hourly_cents: Annotated[StrictInt, Field(gt=0, le=100_000, description="Price per hour in minor units")]
    daily_cap_cents: Annotated[StrictInt, Field(gt=0, le=2_400_000)] | None = Field(
        default=None, description="Most a driver pays per calendar day in the spot's time zone"
    )
    currency: Currency = "EUR"

    @model_validator(mode="after")
    def _cap_above_an_hour(self) -> Pricing:
        if self.daily_cap_cents is not None and self.daily_cap_cents < self.hourly_cents:
            raise ValueError("daily_cap_cents must not be below hourly_cents")
        return self


class Rules(RequestModel):
    granularity_min: Annotated[
        StrictInt, Field(ge=min(GRANULARITIES), le=max(GRANULARITIES), description=f"One of {GRANULARITIES}")
    ] = 15
    min_duration_min: Annotated[StrictInt, Field(ge=5, le=43_200)] = 30
    max_duration_min: Annotated[StrictInt, Field(ge=5, le=43_200)] = 43_200
    lead_time_min: Annotated[StrictInt, Field(ge=0, le=10_080)] = 0
    horizon_days: Annotated[StrictInt, Field(ge=1, le=365)] = 90
    buffer_min: Annotated[StrictInt, Field(ge=0, le=240)] = 0
    instant_book: StrictBool = True
    cancellation_policy: CancellationPolicy = CancellationPolicy.flexible
    reveal_before_min: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=1440,
            description="A driver with a confirmed booking sees the house number and access "
            "instructions from this many minutes before its start until its end",
        ),
    ] = 60
    grace_min: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=120,
            description="Leaving up to this many minutes after the end costs nothing. A driver who "
            "checked in and has not checked out by then has overstayed: the overstay is charged from "
            "the end, per started granularity unit, at `overstay_hourly_cents`",
        ),
    ] = 10
    overstay_hourly_cents: (
        Annotated[
            StrictInt,
            Field(
                gt=0,
                le=150_000,
                description="The hourly rate of an overstay in minor units; null (the default) means 1.5 "
                "times `pricing.hourly_cents`, rounded up, following later price changes. The spot's "
                "view shows the rate in force",
            ),
        ]
        | None
    ) = None
    check_in_required: StrictBool = Field(
        default=False,
        description="Drivers must check in: a confirmed booking without a check-in "
        "`no_show_after_min` after its start becomes `no_show` and the rest of its interval is free again",
    )
    no_show_after_min: Annotated[
        StrictInt,
        Field(
            ge=5,
            le=1440,
            description="With `check_in_required`: minutes after the start (or the end, if sooner) at "
            "which a booking without a check-in becomes `no_show`",
        ),
    ] = 30

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        if self.granularity_min not in GRANULARITIES:
            raise ValueError(f"granularity_min must be one of {', '.join(map(str, GRANULARITIES))}")
        BookingPolicy.of(self, ZoneInfo("UTC"))  # raises ValueError for inconsistent rules
        return self


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class SpotCreate(RequestModel):
    title: Annotated[str, line(120)]
    description: Annotated[str, text(2000)] | None = None
    address: Address
    location: Location
    timezone: Annotated[str, line(64), Field(examples=["Europe/Berlin"])] = "Europe/Berlin"
    features: Features = Field(default_factory=Features)
    max_vehicle: MaxVehicle | None = None
    access_instructions: Annotated[str, text(1000)] | None = None
    pricing: Pricing
    rules: Rules = Field(default_factory=Rules)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)


# Responses


class AddressOut(ResponseModel):
    street: str
    house_number: str | None = Field(description="null in the public view")
    postal_code: str
    city: str
    district: str | None


class LocationOut(ResponseModel):
    lat: float
    lon: float


class EvChargerOut(ResponseModel):
    connector: str
    power_kw: float


class FeaturesOut(ResponseModel):
    covered: bool
    ev_charger: EvChargerOut | None
    wheelchair_accessible: bool
    lit: bool


class MaxVehicleOut(ResponseModel):
    length_cm: int | None
    width_cm: int | None
    height_cm: int | None


class PricingOut(ResponseModel):
    hourly_cents: int
    daily_cap_cents: int | None
    currency: str


class RulesOut(ResponseModel):
    granularity_min: int
    min_duration_min: int
    max_duration_min: int
    lead_time_min: int
    horizon_days: int
    buffer_min: int
    instant_book: bool
    cancellation_policy: str
    reveal_before_min: int
    grace_min: int
    overstay_hourly_cents: int = Field(
        description="The overstay rate in force: the owner's, or 1.5 times `pricing.hourly_cents`"
    )
    check_in_required: bool
    no_show_after_min: int


class SpotOut(ResponseModel):
    id: uuid.UUID
    view: Literal["public", "full"] = Field(
        description="`public`: house number, access instructions and owner hidden (null), location "
        "rounded to 3 decimals (about 100 m). `full`: for the owner, and for a driver with a confirmed "
        "booking of the spot from `rules.reveal_before_min` before its start until its end."
    )
    owner_id: uuid.UUID | None
    title: str
    description: str | None
    address: AddressOut
    location: LocationOut
    timezone: str
    features: FeaturesOut
    max_vehicle: MaxVehicleOut | None
    access_instructions: str | None
    pricing: PricingOut
    rules: RulesOut
    rating: Rating = Field(
        description="The drivers' reviews of the spot that are shown (`GET /v1/spots/{spot_id}/reviews`): "
        "their average, rounded to one decimal, and count; `{average: null, count: 0}` without any"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
