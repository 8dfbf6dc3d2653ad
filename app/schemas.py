"""Shared request/response building blocks.

Request models take their field types from here, so that every text, time, date and number a
client sends is parsed the same strict way: what PostgreSQL, the booking engine or the JSON
answer could not hold is a 422 naming the field, never a 500 further down.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.currencies import CURRENCIES
from app.errors import NotFound

T = TypeVar("T")

# Text.
#
# PostgreSQL refuses NUL in text and a lone surrogate cannot be encoded as UTF-8: both were 500s.
# Other control characters are refused too (a client has no business sending them, and they
# break logs, CSV exports and other clients' screens); multi-line text may hold \n and \t.
_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Nothing a person could read: controls, format characters (zero-width, bidi controls), spaces,
# lone combining marks, unassigned code points, and the letters and symbols that render blank.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp", "Mn", "Mc", "Me"})
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def _refuse(pattern: re.Pattern[str], what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # Checked before any whitespace is stripped, so nothing is removed silently.
        if isinstance(value, str) and (found := pattern.search(value)) is not None:
            raise PydanticCustomError(
                "string_forbidden_character",
                "{what} must not contain the character U+{code}",
                {"what": what, "code": f"{ord(found.group()):04X}"},
            )
        return value

    return check


def _visible(value: str) -> str:
    if value and all(
        c in _BLANK_CHARACTERS or unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in value
    ):
        raise PydanticCustomError("string_invisible", "must contain a visible character")
    return value


# Text fields are written `Annotated[str, line(120)]`: each helper returns a group of metadata that
# pydantic unpacks in order, and a plain object in the annotation keeps type checkers content.
@dataclass(frozen=True)
class _Line(GroupedMetadata):
    max_length: int

    def __iter__(self) -> Iterator[object]:
        yield StringConstraints(strip_whitespace=True, min_length=1, max_length=self.max_length, strict=True)
        # Listed after the constraints so that it wraps them: it sees the string as sent.
        yield BeforeValidator(_refuse(_SINGLE_LINE_FORBIDDEN, "a single line"))
        yield AfterValidator(_visible)


@dataclass(frozen=True)
class _Text(GroupedMetadata):
    max_length: int

    def __iter__(self) -> Iterator[object]:
        yield StringConstraints(max_length=self.max_length, strict=True)
        yield BeforeValidator(_refuse(_MULTI_LINE_FORBIDDEN, "text"))


@dataclass(frozen=True)
class _Token(GroupedMetadata):
    max_length: int
    min_length: int

    def __iter__(self) -> Iterator[object]:
        yield StringConstraints(min_length=self.min_length, max_length=self.max_length, strict=True)
        yield BeforeValidator(_refuse(_SINGLE_LINE_FORBIDDEN, "a token"))


def line(max_length: int) -> GroupedMetadata:
    """One line of text (a name, a title, a reason) of 1 to `max_length` characters: surrounding
    spaces are trimmed (keyboards' autocompletion adds them), and it must show something."""
    return _Line(max_length)


def text(max_length: int) -> GroupedMetadata:
    """Free text over several lines (a description, access instructions), kept as written."""
    return _Text(max_length)


def token(max_length: int, min_length: int = 1) -> GroupedMetadata:
    """An opaque token or a secret: compared exactly as sent, so nothing is trimmed."""
    return _Token(max_length, min_length)


# Numbers. Strict: `"250"` or `true` for a number is a 422, not silently converted.
MAX_CENTS = 1_000_000_000_000
StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
StrictBool = Annotated[bool, Strict()]
Cents = Annotated[int, Strict(), Field(ge=0, le=MAX_CENTS)]


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise PydanticCustomError("currency", "not an ISO 4217 currency code in use")
    return value


Currency = Annotated[
    str,
    Strict(),
    Field(min_length=3, max_length=3, description="ISO 4217 code", examples=["EUR"]),
    AfterValidator(_currency),
]

# Times.
#
# RFC 3339 only, with an explicit offset: pydantic's lax parsing also takes Unix epochs, numbers,
# a space for the `T`, and dates where a time is meant, and a client sending those has a bug we
# should tell it about. The years are bounded so that no arithmetic downstream (prices, the
# database's ranges) overflows.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _year_in_range(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "must lie in the years {earliest} to {latest}",
            {"earliest": EARLIEST_YEAR, "latest": LATEST_YEAR},
        )


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):  # from Python, e.g. a merge patch of stored values
        if value.tzinfo is None:
            raise PydanticCustomError("timezone_aware", "must have an offset")
        _year_in_range(value.year)
        return value
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "datetime_format", "must be an RFC 3339 date-time with an offset, like 2026-11-23T08:00:00Z"
        )
    _year_in_range(int(value[:4]))
    offset = match["offset"].upper().replace("Z", "+00:00")
    fraction = (match["fraction"] or "")[:7]  # microseconds; finer digits are dropped
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{offset}")
    except ValueError:
        raise PydanticCustomError("datetime_parsing", "not a valid date and time") from None
    # The offset may move a time at the edge of the range across it.
    _year_in_range(parsed.astimezone(UTC).year)
    return parsed


def _parse_day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        _year_in_range(value.year)
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "must be an RFC 3339 date, like 2026-11-23")
    _year_in_range(int(value[:4]))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_parsing", "not a valid date") from None


Instant = Annotated[
    datetime,
    PlainValidator(_parse_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": f"RFC 3339 with an offset, years {EARLIEST_YEAR} to {LATEST_YEAR}",
            "examples": ["2026-11-23T08:00:00Z"],
        }
    ),
]
Day = Annotated[
    date,
    PlainValidator(_parse_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": f"RFC 3339 full-date, years {EARLIEST_YEAR} to {LATEST_YEAR}",
            "examples": ["2026-11-23"],
        }
    ),
]


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields (docs/api.md) instead of silently dropping them."""

    model_config = ConfigDict(extra="forbid")


class TimeSpan(RequestModel):
    """A request's `[start, end)`: timezone-aware times, the end after the start."""

    start: Instant
    end: Instant
    longest: ClassVar[timedelta | None] = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        if start is not None and cls.longest is not None and value - start > cls.longest:
            raise ValueError(f"at most {cls.longest.days} days at once")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def as_utc_z(value: datetime) -> str:
    if value.tzinfo is None:  # pragma: no cover - every stored time is timestamptz
        raise ValueError("naive datetime in a response")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Times are answered in UTC with a `Z`, as docs/api.md says. The serializer returns a plain str, so the
# answer schema says so explicitly: clients generate typed dates only from `format: date-time`.
UtcDatetime = Annotated[
    datetime,
    PlainSerializer(as_utc_z, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Rating(ResponseModel):
    """The reviews shown of a spot (drivers' reviews) or of a driver (owners' reviews): shown ones
    only, neither hidden by an admin nor still waiting for the other party's review."""

    average: float | None = Field(
        description="The mean of the ratings (1 to 5), rounded half up to one decimal; null while there is none"
    )
    count: int = Field(description="How many ratings the average is of")

    @classmethod
    def none(cls) -> Rating:
        return cls(average=None, count=0)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def parse_id(value: str, what: str) -> uuid.UUID:
    """Ids are opaque to clients: one that is not even well-formed is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
