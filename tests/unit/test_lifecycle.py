"""The lifecycle table: every (from, to) transition and every (action, status) pair, both ways."""

from __future__ import annotations

import itertools

import pytest

from shared.domain.errors import InvalidTransitionError
from shared.domain.lifecycle import ACTIONS, TRANSITIONS, Status, check_action, check_transition

S = Status

# The lifecycle of the README, written out independently of the module under test.
ALLOWED_TRANSITIONS: set[tuple[Status, Status]] = {
    (S.NOT_CONFIGURED, S.PENDING),
    (S.NOT_CONFIGURED, S.ACTIVE),  # a SaaS entry is active at once
    *((S.PENDING, t) for t in (S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.DISABLED)),
    *((S.VALIDATING, t) for t in (S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED, S.DISABLED)),
    *((S.ACTIVE, t) for t in (S.PENDING, S.VALIDATING, S.ACTIVE, S.EXPIRED, S.ERROR, S.DISABLED)),
    *((S.ERROR, t) for t in (S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.DISABLED)),
    *((S.EXPIRED, t) for t in (S.PENDING, S.VALIDATING, S.ACTIVE, S.EXPIRED, S.DISABLED)),
    (S.DISABLED, S.PENDING),  # enable
    (S.DISABLED, S.ACTIVE),  # enable of a SaaS entry
}

CONFIGURED = [s for s in Status if s is not S.NOT_CONFIGURED]
ALLOWED_ACTIONS: dict[str, set[Status]] = {
    "setup": {S.NOT_CONFIGURED, S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED},
    "rotate": {S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED},
    "validate": {S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED},
    "edit": set(CONFIGURED),
    "disable": {S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED},
    "enable": {S.DISABLED},
    "delete": set(CONFIGURED),
    "decrypt": {S.ACTIVE},
}

ALL_PAIRS = list(itertools.product(Status, Status))


def test_statuses_are_those_of_the_api() -> None:
    assert {s.value for s in Status} == {
        "not_configured",
        "pending",
        "validating",
        "active",
        "error",
        "disabled",
        "expired",
    }


@pytest.mark.parametrize("before,after", [p for p in ALL_PAIRS if p in ALLOWED_TRANSITIONS], ids=lambda s: s.value)
def test_allowed_transition(before: Status, after: Status) -> None:
    check_transition(before, after)  # does not raise
    assert after in TRANSITIONS[before]


@pytest.mark.parametrize("before,after", [p for p in ALL_PAIRS if p not in ALLOWED_TRANSITIONS], ids=lambda s: s.value)
def test_forbidden_transition(before: Status, after: Status) -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition(before, after)
    assert caught.value.status == 409
    assert caught.value.code == "invalid_transition"
    assert before.value in caught.value.message and after.value in caught.value.message


def test_nothing_moves_back_to_not_configured_by_a_transition() -> None:
    # Only delete removes an integration; no status write may claim not_configured.
    assert all(S.NOT_CONFIGURED not in targets for targets in TRANSITIONS.values())


def test_the_action_table_covers_exactly_the_documented_actions() -> None:
    assert set(ACTIONS) == set(ALLOWED_ACTIONS)


ACTION_CASES = [(a, s) for a in ALLOWED_ACTIONS for s in Status]


@pytest.mark.parametrize(
    "action,status",
    [(a, s) for a, s in ACTION_CASES if s in ALLOWED_ACTIONS[a]],
    ids=lambda v: v.value if isinstance(v, Status) else v,
)
def test_allowed_action(action: str, status: Status) -> None:
    check_action(action, status)


@pytest.mark.parametrize(
    "action,status",
    [(a, s) for a, s in ACTION_CASES if s not in ALLOWED_ACTIONS[a]],
    ids=lambda v: v.value if isinstance(v, Status) else v,
)
def test_forbidden_action_is_409_naming_the_status(action: str, status: Status) -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        check_action(action, status)
    error = caught.value
    assert (error.status, error.code) == (409, "invalid_transition")
    assert error.message == f"Cannot {action} an integration whose status is {status.value}"


@pytest.mark.parametrize(
    "action,status,word",
    [
        ("enable", S.ACTIVE, "active"),
        ("validate", S.DISABLED, "disabled"),
        ("rotate", S.DISABLED, "disabled"),
        ("decrypt", S.EXPIRED, "expired"),
    ],
)
def test_examples_of_api_md(action: str, status: Status, word: str) -> None:
    with pytest.raises(InvalidTransitionError, match=rf"status is {word}$"):
        check_action(action, status)
