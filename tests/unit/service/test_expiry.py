"""Issue 12 item 8: `expires_at` on setup and rotate, for every provider with a credential
(required for Azure), shown as `credential.expires_at`; the daily revalidation warns once
EXPIRY_WARNING_DAYS before it (audit `expiry_warning` and a status event whose status stays)
and makes the integration `expired` on the day, without asking the provider."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from shared.domain.errors import BadRequestError
from tests.support.world import SAAS_CONFIG, World

TODAY = datetime.now(timezone.utc).date()
EXPIRES = TODAY + timedelta(days=30)


def at(day: date, hour: int = 6) -> datetime:
    """The daily revalidation's clock on `day`."""
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def active_with_expiry(world: World, expires: date = EXPIRES, provider: str = "gemini") -> str:
    key = world.key(provider)
    view = world.setup(provider, body={"credential": key, "expires_at": expires.isoformat()}, wait=True)
    assert view["status"] == "active" and view["credential"]["expires_at"] == expires.isoformat()
    return key


def warnings(world: World, provider: str = "gemini") -> list[dict[str, Any]]:
    return [e for e in world.events(provider) if e["action"] == "expiry_warning"]


def test_expires_at_is_stored_with_the_credential_and_shown(world: World) -> None:
    active_with_expiry(world)
    assert world.get("gemini")["credential"]["expires_at"] == EXPIRES.isoformat()
    assert world.stored("gemini").credential.expires_at == EXPIRES
    key = world.key("deepseek")
    assert world.setup("deepseek", key, wait=True)["credential"]["expires_at"] is None  # optional


BAD_DATES = [
    ("tomorrow", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("2027-13-01", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("2027-02-30", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("2027-1-1", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("20270101", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("2027-01-01T00:00:00Z", "Field 'expires_at' must be a date, YYYY-MM-DD"),
    ("\uff12\uff10\uff12\uff17-01-01", "Field 'expires_at' must be a date, YYYY-MM-DD"),  # full-width digits
    (20270101, "Field 'expires_at' must be a date, YYYY-MM-DD"),
    (["2027-01-01"], "Field 'expires_at' must be a date, YYYY-MM-DD"),
    (TODAY.isoformat(), "Field 'expires_at' must be a date after today: that credential has already expired"),
    ((TODAY - timedelta(days=1)).isoformat(),
     "Field 'expires_at' must be a date after today: that credential has already expired"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "message"), BAD_DATES)
def test_a_bad_or_past_date_is_refused_before_anything_is_stored_or_counted(make_world, value, message) -> None:
    world: World = make_world(validation_rate_limit="1/600")
    key = world.key("gemini")
    with pytest.raises(BadRequestError) as caught:
        world.setup("gemini", body={"credential": key, "expires_at": value})
    assert caught.value.message == message and str(value) not in message.replace("YYYY-MM-DD", "")
    assert world.stored("gemini") is None and world.credential_rows() == []
    assert world.setup("gemini", body={"credential": key, "expires_at": EXPIRES.isoformat()})  # no attempt was spent


def test_a_manual_entry_takes_no_expiry_date(world: World) -> None:
    with pytest.raises(BadRequestError) as caught:
        world.setup("slack", body={"config": SAAS_CONFIG, "expires_at": EXPIRES.isoformat()})
    assert caught.value.message == "Field 'expires_at' is not allowed: slack is entered by hand"


def test_a_rotation_carries_its_own_date_into_force(world: World) -> None:
    active_with_expiry(world)
    new, later = world.key("gemini"), EXPIRES + timedelta(days=60)
    body = {"credential": new, "expires_at": later.isoformat()}
    view = world.service.setups.rotate(world.actor, "gemini", body, wait=True)
    assert view["rotation"] is None and view["credential"]["expires_at"] == later.isoformat()
    with pytest.raises(BadRequestError, match="after today"):
        world.service.setups.rotate(
            world.actor, "gemini", {"credential": world.key("gemini"), "expires_at": "2000-01-01"}
        )


def test_the_same_credential_with_a_new_date_changes_the_date_only(world: World) -> None:
    key = active_with_expiry(world)
    later = EXPIRES + timedelta(days=10)
    view = world.setup("gemini", body={"credential": key, "expires_at": later.isoformat()})
    assert view["credential"]["expires_at"] == later.isoformat() and view["credential"]["version"] == 1
    assert world.events("gemini")[0]["details"] == {"unchanged_credential": True}
    assert world.setup("gemini", body={"credential": key})["credential"]["expires_at"] == later.isoformat()  # kept


def test_the_daily_revalidation_warns_once_within_the_window_then_expires_on_the_day(world: World) -> None:
    active_with_expiry(world)
    world.clock.set(at(EXPIRES - timedelta(days=15)))
    world.service.revalidation.revalidate_all()
    assert warnings(world) == [] and world.get("gemini")["status"] == "active"

    world.clock.set(at(EXPIRES - timedelta(days=14)))
    world.service.revalidation.revalidate_all()
    [warning] = warnings(world)
    assert (warning["actor"], warning["outcome"]) == ("system", "ok")
    assert warning["details"] == {"expires_at": EXPIRES.isoformat(), "days_left": 14}
    note = f"Credential expires soon: on {EXPIRES.isoformat()}, in 14 days: set up or rotate to a new credential before then"
    changes = [e for e in world.events("gemini") if e["action"] == "status_change"]
    assert changes[0]["details"] == {"from": "active", "to": "active", "message": note}
    assert world.status_events()[-1] | {"at": None} == {
        "org": world.actor.org, "provider": "gemini", "from": "active", "to": "active", "message": note, "at": None,
    }  # fmt: skip
    view = world.get("gemini")
    assert view["status"] == "active" and view["status_code"] is None  # a warning, not a verdict

    world.clock.set(at(EXPIRES - timedelta(days=1)))
    world.service.revalidation.revalidate_all()
    assert len(warnings(world)) == 1  # once per credential

    calls = world.servers.gemini.count()
    world.clock.set(at(EXPIRES, hour=0))
    assert '"expired": 1' in world.service.revalidation.revalidate_all()
    view = world.get("gemini")
    assert (view["status"], view["status_code"], view["status_message"]) == (
        "expired",
        "credential_expired",
        f"Credential expired: its expiry date, {EXPIRES.isoformat()}, has come",
    )
    assert world.servers.gemini.count() == calls, "an expired credential is not sent to the provider"
    assert world.events("gemini")[0]["details"]["to"] == "expired"


def test_a_warning_a_day_before_says_one_day_and_the_window_is_a_setting(make_world) -> None:
    world: World = make_world(expiry_warning_days=3)
    active_with_expiry(world)
    world.clock.set(at(EXPIRES - timedelta(days=4)))
    world.service.revalidation.revalidate_all()
    assert warnings(world) == []
    world.clock.set(at(EXPIRES - timedelta(days=1)))
    world.service.revalidation.revalidate_all()
    [warning] = warnings(world)
    assert warning["details"]["days_left"] == 1
    assert world.status_events()[-1]["message"].startswith(
        f"Credential expires soon: on {EXPIRES.isoformat()}, in 1 day:"
    )


def test_a_new_credential_is_warned_about_anew(world: World) -> None:
    active_with_expiry(world)
    world.clock.set(at(EXPIRES - timedelta(days=2)))
    world.service.revalidation.revalidate_all()
    later = EXPIRES + timedelta(days=3)
    body = {"credential": world.key("gemini"), "expires_at": later.isoformat()}
    world.service.setups.rotate(world.actor, "gemini", body, wait=True)
    world.clock.set(at(later - timedelta(days=1)))
    world.service.revalidation.revalidate_all()
    assert [w["details"]["expires_at"] for w in warnings(world)] == [later.isoformat(), EXPIRES.isoformat()]


def test_validate_after_the_date_is_expired_and_a_new_date_brings_it_back(world: World) -> None:
    key = active_with_expiry(world)
    world.clock.set(at(EXPIRES))
    view = world.service.setups.validate(world.actor, "gemini")
    assert (view["status"], view["status_code"]) == ("expired", "credential_expired")
    # the user got the date wrong: the same credential with a later date is checked again
    later = EXPIRES + timedelta(days=90)
    view = world.setup("gemini", body={"credential": key, "expires_at": later.isoformat()}, wait=True)
    assert (view["status"], view["credential"]["expires_at"], view["credential"]["version"]) == (
        "active",
        later.isoformat(),
        1,
    )


def test_the_warning_setting_is_validated() -> None:
    from pydantic import ValidationError

    from shared.settings import Settings, settings_error

    assert Settings().expiry_warning_days == 14
    for bad in ("0", "-1", "366", "two weeks"):
        with pytest.raises(ValidationError) as caught:
            Settings(expiry_warning_days=bad)
        assert "EXPIRY_WARNING_DAYS" in settings_error(caught.value).message
