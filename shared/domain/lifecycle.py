"""Statuses and the transitions between them: the lifecycle, enforced here and only here.

not_configured --setup--> pending --validator picks up--> validating --> active
                                                                    \\--> error
active --revalidation finds the key revoked--> expired
any configured state --disable--> disabled --enable--> pending
"""

from __future__ import annotations

from enum import Enum

from .errors import InvalidTransitionError


class Status(str, Enum):
    NOT_CONFIGURED = "not_configured"
    PENDING = "pending"
    VALIDATING = "validating"
    ACTIVE = "active"
    ERROR = "error"
    DISABLED = "disabled"
    EXPIRED = "expired"


S = Status
CONFIGURED = frozenset(s for s in Status if s is not S.NOT_CONFIGURED)

# from -> statuses it may move to. A status may also "move" to itself (a no-op write).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NOT_CONFIGURED: frozenset({S.PENDING, S.ACTIVE}),  # ACTIVE: manual SaaS entries
    S.PENDING: frozenset({S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.DISABLED}),
    S.VALIDATING: frozenset({S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.EXPIRED, S.DISABLED}),
    S.ACTIVE: frozenset({S.PENDING, S.VALIDATING, S.ACTIVE, S.EXPIRED, S.ERROR, S.DISABLED}),
    S.ERROR: frozenset({S.PENDING, S.VALIDATING, S.ACTIVE, S.ERROR, S.DISABLED}),
    S.EXPIRED: frozenset({S.PENDING, S.VALIDATING, S.ACTIVE, S.EXPIRED, S.DISABLED}),
    S.DISABLED: frozenset({S.PENDING, S.ACTIVE}),  # ACTIVE: manual entries have nothing to validate
}

# action -> statuses in which it is allowed (NOT_CONFIGURED is answered by 404 elsewhere).
ACTIONS: dict[str, frozenset[Status]] = {
    "setup": frozenset(CONFIGURED - {S.DISABLED}) | {S.NOT_CONFIGURED},
    "rotate": frozenset(CONFIGURED - {S.DISABLED}),
    "validate": frozenset(CONFIGURED - {S.DISABLED}),
    "edit": frozenset(CONFIGURED),
    "disable": frozenset(CONFIGURED - {S.DISABLED}),
    "enable": frozenset({S.DISABLED}),
    "delete": frozenset(CONFIGURED),
    "decrypt": frozenset({S.ACTIVE}),
}


def check_action(action: str, status: Status) -> None:
    """Raise `invalid_transition` (409) naming the status that forbids `action`."""
    if status not in ACTIONS[action]:
        raise InvalidTransitionError(f"Cannot {action} an integration whose status is {status.value}")


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransitionError(f"Cannot move from {current.value} to {target.value}")
