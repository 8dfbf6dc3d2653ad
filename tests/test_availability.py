from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update

from app.availability.materialize import extend_open_ranges, interval_of
from app.availability.models import SpotOpenRange
from app.db import Database
from app.spots.models import Spot
from tests.conftest import assert_problem
from tests.factories import Account, make_account, make_spot


def z(value: str) -> str:
    return value + ":00Z" if len(value) == 16 else value


def spans(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"start": z(a), "end": z(b)} for a, b in pairs]


def set_clock(app: FastAPI, when: datetime) -> None:
    app.state.clock.set(when)


async def free(client: AsyncClient, spot_id: str, start: str, end: str) -> list[dict[str, str]]:
    r = await client.get(f"/v1/spots/{spot_id}/availability", params={"from": start, "to": end})
    assert r.status_code == 200, r.text
    return list(r.json()["free"])


async def publish_office_week(
    client: AsyncClient, owner: Account, saturday: tuple[str, str], blackout: tuple[str, str]
) -> str:
    spot = await make_spot(client, owner, rules={"horizon_days": 365})
    base = f"/v1/spots/{spot['id']}/availability"
    r = await client.post(
        f"{base}/rules",
        headers=owner.headers,
        json={"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start_time": "08:00", "end_time": "18:00"},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{base}/windows", headers=owner.headers, json={"start": saturday[0], "end": saturday[1]}
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{base}/blackouts",
        headers=owner.headers,
        json={"start": blackout[0], "end": blackout[1], "reason": "painters"},
    )
    assert r.status_code == 201, r.text
    return str(spot["id"])


async def test_office_hours_saturday_and_blackout_in_the_spring_dst_week(
    app: FastAPI, client: AsyncClient, alice: Account
) -> None:
    set_clock(app, datetime(2027, 3, 1, tzinfo=UTC))
    spot_id = await publish_office_week(
        client,
        alice,
        saturday=("2027-03-27T10:00:00+01:00", "2027-03-27T14:00:00+01:00"),
        blackout=("2027-03-24T12:00:00+01:00", "2027-03-24T14:00:00+01:00"),
    )
    # Clocks go forward on Sunday 28 March 2027: Berlin is UTC+1 before, UTC+2 after.
    got = await free(client, spot_id, "2027-03-22T00:00:00+01:00", "2027-04-03T00:00:00+02:00")
    assert got == spans(
        ("2027-03-22T07:00", "2027-03-22T17:00"),
        ("2027-03-23T07:00", "2027-03-23T17:00"),
        ("2027-03-24T07:00", "2027-03-24T11:00"),
        ("2027-03-24T13:00", "2027-03-24T17:00"),
        ("2027-03-25T07:00", "2027-03-25T17:00"),
        ("2027-03-26T07:00", "2027-03-26T17:00"),
        ("2027-03-27T09:00", "2027-03-27T13:00"),
        ("2027-03-29T06:00", "2027-03-29T16:00"),
        ("2027-03-30T06:00", "2027-03-30T16:00"),
        ("2027-03-31T06:00", "2027-03-31T16:00"),
        ("2027-04-01T06:00", "2027-04-01T16:00"),
        ("2027-04-02T06:00", "2027-04-02T16:00"),
    )


async def test_office_hours_saturday_and_blackout_in_the_autumn_dst_week(
    app: FastAPI, client: AsyncClient, alice: Account
) -> None:
    set_clock(app, datetime(2027, 10, 1, tzinfo=UTC))
    spot_id = await publish_office_week(
        client,
        alice,
        saturday=("2027-10-30T10:00:00+02:00", "2027-10-30T14:00:00+02:00"),
        blackout=("2027-11-03T00:00:00+01:00", "2027-11-04T00:00:00+01:00"),
    )
    # Clocks go back on Sunday 31 October 2027.
    got = await free(client, spot_id, "2027-10-25T00:00:00+02:00", "2027-11-06T00:00:00+01:00")
    assert got == spans(
        ("2027-10-25T06:00", "2027-10-25T16:00"),
        ("2027-10-26T06:00", "2027-10-26T16:00"),
        ("2027-10-27T06:00", "2027-10-27T16:00"),
        ("2027-10-28T06:00", "2027-10-28T16:00"),
        ("2027-10-29T06:00", "2027-10-29T16:00"),
        ("2027-10-30T08:00", "2027-10-30T12:00"),
        ("2027-11-01T07:00", "2027-11-01T17:00"),
        ("2027-11-02T07:00", "2027-11-02T17:00"),
        ("2027-11-04T07:00", "2027-11-04T17:00"),
        ("2027-11-05T07:00", "2027-11-05T17:00"),
    )


async def test_rules_over_the_dst_nights(app: FastAPI, client: AsyncClient, alice: Account) -> None:
    set_clock(app, datetime(2027, 3, 1, tzinfo=UTC))
    spot = await make_spot(client, alice, rules={"horizon_days": 365})
    base = f"/v1/spots/{spot['id']}/availability"
    await client.post(
        f"{base}/rules",
        headers=alice.headers,
        json={"weekdays": ["sat"], "start_time": "22:00", "end_time": "06:00"},
    )
    # Saturday 22:00 to Sunday 06:00 is seven real hours in March and nine in October.
    assert await free(client, spot["id"], "2027-03-27T00:00:00Z", "2027-03-29T00:00:00Z") == spans(
        ("2027-03-27T21:00", "2027-03-28T04:00")
    )
    assert await free(client, spot["id"], "2027-10-30T00:00:00Z", "2027-11-01T00:00:00Z") == spans(
        ("2027-10-30T20:00", "2027-10-31T05:00")
    )


async def test_lead_time_horizon_and_granularity_apply(
    app: FastAPI, client: AsyncClient, alice: Account
) -> None:
    set_clock(app, datetime(2026, 11, 23, 9, 7, tzinfo=UTC))  # a Monday, 10:07 in Berlin
    spot = await make_spot(
        client,
        alice,
        rules={"lead_time_min": 60, "horizon_days": 2, "granularity_min": 30, "min_duration_min": 60},
    )
    await client.post(
        f"/v1/spots/{spot['id']}/availability/rules",
        headers=alice.headers,
        json={
            "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start_time": "00:00",
            "end_time": "24:00",
        },
    )
    got = await free(client, spot["id"], "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")
    assert got == spans(("2026-11-23T10:30", "2026-11-25T09:00"))


async def test_crud_of_rules_windows_and_blackouts(app: FastAPI, client: AsyncClient, alice: Account) -> None:
    set_clock(app, datetime(2026, 11, 22, tzinfo=UTC))
    spot = await make_spot(client, alice)
    base = f"/v1/spots/{spot['id']}/availability"

    rule = (
        await client.post(
            f"{base}/rules",
            headers=alice.headers,
            json={
                "weekdays": ["tue", "mon"],
                "start_time": "07:30",
                "end_time": "24:00",
                "valid_from": "2026-11-23",
            },
        )
    ).json()
    assert {k: rule[k] for k in ("weekdays", "start_time", "end_time", "valid_from", "valid_until")} == {
        "weekdays": ["mon", "tue"],
        "start_time": "07:30",
        "end_time": "24:00",
        "valid_from": "2026-11-23",
        "valid_until": None,
    }
    window = (
        await client.post(
            f"{base}/windows",
            headers=alice.headers,
            json={"start": "2026-11-28T09:00:00+01:00", "end": "2026-11-28T12:00:00+01:00"},
        )
    ).json()
    assert (window["start"], window["end"]) == ("2026-11-28T08:00:00Z", "2026-11-28T11:00:00Z")
    blackout = (
        await client.post(
            f"{base}/blackouts",
            headers=alice.headers,
            json={"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"},
        )
    ).json()
    assert blackout["reason"] is None

    for kind, item in (("rules", rule), ("windows", window), ("blackouts", blackout)):
        listed = (await client.get(f"{base}/{kind}", headers=alice.headers)).json()
        assert listed == {"items": [item], "next_cursor": None}

    week = ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")
    assert await free(client, spot["id"], *week) == spans(
        ("2026-11-23T06:30", "2026-11-23T23:00"), ("2026-11-28T08:00", "2026-11-28T11:00")
    )

    assert (
        await client.delete(f"{base}/blackouts/{blackout['id']}", headers=alice.headers)
    ).status_code == 204
    assert await free(client, spot["id"], *week) == spans(
        ("2026-11-23T06:30", "2026-11-23T23:00"),
        ("2026-11-24T06:30", "2026-11-24T23:00"),
        ("2026-11-28T08:00", "2026-11-28T11:00"),
    )
    assert (await client.delete(f"{base}/rules/{rule['id']}", headers=alice.headers)).status_code == 204
    assert (await client.delete(f"{base}/windows/{window['id']}", headers=alice.headers)).status_code == 204
    assert await free(client, spot["id"], *week) == []
    assert_problem(await client.delete(f"{base}/rules/{rule['id']}", headers=alice.headers), 404, "not_found")


async def test_open_ranges_are_stored_for_sql_and_follow_changes(
    app: FastAPI, client: AsyncClient, alice: Account, db: Database
) -> None:
    set_clock(app, datetime(2026, 11, 22, tzinfo=UTC))
    spot = await make_spot(client, alice, rules={"horizon_days": 14})
    base = f"/v1/spots/{spot['id']}/availability"

    async def stored() -> list[tuple[datetime, datetime]]:
        async with db.sessionmaker() as session:
            rows = await session.scalars(
                select(SpotOpenRange.during)
                .where(SpotOpenRange.spot_id == spot["id"])
                .order_by(SpotOpenRange.during)
            )
            return [(i.start, i.end) for i in map(interval_of, rows)]

    assert await stored() == []
    await client.post(
        f"{base}/rules",
        headers=alice.headers,
        json={"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00"},
    )
    ranges = await stored()
    # From a day before "now" to two days past the horizon: Mondays 23 Nov, 30 Nov, 7 Dec.
    assert [a.day for a, _ in ranges] == [23, 30, 7]
    await client.post(
        f"{base}/blackouts",
        headers=alice.headers,
        json={"start": "2026-11-30T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
    )
    assert [a.day for a, _ in await stored()] == [23, 7]
    # The time zone decides the wall clock: moving the spot to London shifts the ranges by an hour.
    r = await client.patch(
        f"/v1/spots/{spot['id']}", headers=alice.headers, json={"timezone": "Europe/London"}
    )
    assert r.status_code == 200
    assert (await stored())[0] == (
        datetime(2026, 11, 23, 8, tzinfo=UTC),
        datetime(2026, 11, 23, 18, tzinfo=UTC),
    )
    await client.delete(f"/v1/spots/{spot['id']}", headers=alice.headers)
    assert await stored() == []


async def test_the_daily_job_extends_ranges_past_the_horizon(
    committed_client: AsyncClient, committed_db: Database
) -> None:
    owner = await make_account(committed_client, "owner")
    spot = await make_spot(committed_client, owner, rules={"horizon_days": 7})
    await committed_client.post(
        f"/v1/spots/{spot['id']}/availability/rules",
        headers=owner.headers,
        json={
            "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start_time": "08:00",
            "end_time": "09:00",
        },
    )
    async with committed_db.sessionmaker() as session, session.begin():
        # As if computed long ago: the rows end in the past.
        await session.execute(update(Spot).values(open_ranges_until=datetime(2020, 1, 1, tzinfo=UTC)))
        await session.execute(SpotOpenRange.__table__.delete())  # type: ignore[attr-defined]
    assert await extend_open_ranges(committed_db) == 1
    assert await extend_open_ranges(committed_db) == 0  # nothing left to do: idempotent
    async with committed_db.sessionmaker() as session:
        count = len((await session.scalars(select(SpotOpenRange.during))).all())
        until = await session.scalar(select(Spot.open_ranges_until))
    assert 9 <= count <= 11  # a window a day from yesterday to two days past the horizon
    assert until is not None
    assert until > datetime.now(UTC)


async def test_owner_only_with_403_and_401(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await make_spot(client, alice)
    base = f"/v1/spots/{spot['id']}/availability"
    rule = {"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00"}
    assert_problem(await client.post(f"{base}/rules", headers=bob.headers, json=rule), 403, "forbidden")
    assert_problem(await client.get(f"{base}/rules", headers=bob.headers), 403, "forbidden")
    assert_problem(await client.get(f"{base}/blackouts", headers=bob.headers), 403, "forbidden")
    assert_problem(await client.post(f"{base}/rules", json=rule), 401, "unauthorized")
    assert_problem(await client.get(f"{base}/windows"), 401, "unauthorized")
    created = (await client.post(f"{base}/rules", headers=alice.headers, json=rule)).json()
    assert_problem(
        await client.delete(f"{base}/rules/{created['id']}", headers=bob.headers), 403, "forbidden"
    )
    # An item of another spot is not found on this one.
    other = await make_spot(client, alice)
    assert_problem(
        await client.delete(
            f"/v1/spots/{other['id']}/availability/rules/{created['id']}", headers=alice.headers
        ),
        404,
        "not_found",
    )
    # Reading the free intervals needs no sign-in: Monday 30 November, 08:00 to 18:00 in Berlin.
    r = await client.get(base, params={"from": "2026-11-30T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["free"] == [{"start": "2026-11-30T07:00:00Z", "end": "2026-11-30T17:00:00Z"}]


async def test_bad_rules_are_refused(client: AsyncClient, alice: Account) -> None:
    spot = await make_spot(client, alice)
    url = f"/v1/spots/{spot['id']}/availability/rules"
    ok: dict[str, Any] = {"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00"}
    for change, field in (
        ({"weekdays": ["monday"]}, "weekdays.0"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": ["mon", "mon"]}, "weekdays"),
        ({"start_time": "8:00"}, "start_time"),
        ({"start_time": "24:00"}, "start_time"),
        ({"end_time": "18:61"}, "end_time"),
        ({"end_time": "08:00"}, "end_time"),
        ({"valid_from": "2027-01-02", "valid_until": "2027-01-01"}, "valid_until"),
        ({"valid_from": "next week"}, "valid_from"),
        ({"extra": 1}, "extra"),
    ):
        problem = assert_problem(
            await client.post(url, headers=alice.headers, json={**ok, **change}), 422, "validation_error"
        )
        assert problem["errors"][0]["field"] == field, (change, problem)
    assert (await client.get(url, headers=alice.headers)).json()["items"] == []


async def test_bad_windows_and_blackouts_are_refused(
    app: FastAPI, client: AsyncClient, alice: Account
) -> None:
    set_clock(app, datetime(2026, 11, 22, tzinfo=UTC))
    spot = await make_spot(client, alice)
    for kind in ("windows", "blackouts"):
        url = f"/v1/spots/{spot['id']}/availability/{kind}"
        for body, field in (
            ({"start": "2026-12-01T10:00:00", "end": "2026-12-01T12:00:00Z"}, "start"),  # naive
            ({"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T10:00:00Z"}, "end"),  # reversed
            ({"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T12:00:00Z"}, "end"),  # empty
            ({"start": "2026-12-01T12:00:00Z", "end": "2028-12-01T12:00:00Z"}, "end"),  # too long
            ({"start": "2026-11-01T10:00:00Z", "end": "2026-11-02T10:00:00Z"}, "end"),  # over
            ({"start": "tomorrow", "end": "2026-12-01T12:00:00Z"}, "start"),
        ):
            problem = assert_problem(
                await client.post(url, headers=alice.headers, json=body), 422, "validation_error"
            )
            assert problem["errors"][0]["field"] == field, (body, problem)
        assert (await client.get(url, headers=alice.headers)).json()["items"] == []
    long_reason = {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z", "reason": "x" * 201}
    assert_problem(
        await client.post(
            f"/v1/spots/{spot['id']}/availability/blackouts", headers=alice.headers, json=long_reason
        ),
        422,
        "validation_error",
    )


async def test_availability_query_is_validated(client: AsyncClient, alice: Account) -> None:
    spot = await make_spot(client, alice)
    url = f"/v1/spots/{spot['id']}/availability"
    for params, field in (
        ({"from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00Z"}, "from"),
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2027-01-02T00:00:00Z"}, "to"),
        ({"from": "2026-12-01T00:00:00Z"}, "to"),
        ({"from": "yesterday", "to": "2026-12-01T00:00:00Z"}, "from"),
    ):
        problem = assert_problem(await client.get(url, params=params), 422, "validation_error")
        assert problem["errors"][0]["field"] == field, problem
    # Exactly 31 days is fine, and a + in the offset works when encoded.
    r = await client.get(url, params={"from": "2026-12-01T00:00:00+01:00", "to": "2027-01-01T00:00:00+01:00"})
    assert r.status_code == 200
    assert r.json() == {"spot_id": spot["id"], "timezone": "Europe/Berlin", "free": []}
    assert_problem(
        await client.get(
            "/v1/spots/nope/availability",
            params={"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"},
        ),
        404,
        "not_found",
    )


async def test_a_spot_has_at_most_fifty_rules(client: AsyncClient, alice: Account) -> None:
    spot = await make_spot(client, alice)
    url = f"/v1/spots/{spot['id']}/availability/rules"
    for n in range(50):
        r = await client.post(
            url,
            headers=alice.headers,
            json={"weekdays": ["mon"], "start_time": f"{n % 24:02d}:00", "end_time": "24:00"},
        )
        assert r.status_code == 201
    problem = assert_problem(
        await client.post(
            url, headers=alice.headers, json={"weekdays": ["sun"], "start_time": "08:00", "end_time": "09:00"}
        ),
        422,
        "validation_error",
    )
    assert problem["errors"][0]["type"] == "too_many"


async def test_availability_lies_at_most_a_few_years_ahead(
    app: FastAPI, client: AsyncClient, alice: Account
) -> None:
    set_clock(app, datetime(2026, 11, 22, tzinfo=UTC))
    spot = await make_spot(client, alice)
    for kind in ("windows", "blackouts"):
        url = f"/v1/spots/{spot['id']}/availability/{kind}"
        # 730 days ahead is the last end allowed: a year past the longest horizon.
        ok = {"start": "2028-11-01T00:00:00Z", "end": "2028-11-21T00:00:00Z"}
        assert (await client.post(url, headers=alice.headers, json=ok)).status_code == 201
        far = {"start": "2028-11-01T00:00:00Z", "end": "2028-11-21T00:00:01Z"}
        problem = assert_problem(
            await client.post(url, headers=alice.headers, json=far), 422, "validation_error"
        )
        assert (problem["errors"][0]["field"], problem["errors"][0]["type"]) == ("end", "too_far_ahead")
        assert problem["detail"] == "end: at most 730 days ahead (by 2028-11-21T00:00:00Z)"
    url = f"/v1/spots/{spot['id']}/availability/rules"
    rule = {"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00"}
    for field in ("valid_from", "valid_until"):
        problem = assert_problem(
            await client.post(url, headers=alice.headers, json={**rule, field: "2029-11-22"}),
            422,
            "validation_error",
        )
        assert (problem["errors"][0]["field"], problem["errors"][0]["type"]) == (field, "too_far_ahead")
        assert problem["detail"] == f"{field}: at most 1095 days ahead (by 2029-11-21)"
    lease = {**rule, "valid_from": "2029-11-21", "valid_until": "2029-11-21"}
    assert (await client.post(url, headers=alice.headers, json=lease)).status_code == 201
