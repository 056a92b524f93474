"""Who may do what: roles grant actions, clearance must cover the checkpoint's classification.

Deny by default: an unknown action, an unknown role, a missing principal or a clearance
below the object's classification is refused. Classification of a checkpoint is derived
from the data it was trained on; metadata can raise it but never lower it below what the
data implies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from corpusforge.core.errors import InputError

CLASSIFICATIONS = ("public", "internal", "restricted")
LEVEL = {name: i for i, name in enumerate(CLASSIFICATIONS)}

# Actions on checkpoints (checked against clearance) and on the store itself.
CHECKPOINT_ACTIONS = ("put", "get", "list", "delete", "mark")
ADMIN_ACTIONS = ("grant", "principal.add", "token.issue", "token.revoke", "rotate-key")

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(CHECKPOINT_ACTIONS + ADMIN_ACTIONS),
    "trainer": frozenset({"put", "get", "list"}),
    "evaluator": frozenset({"get", "list"}),
    "auditor": frozenset({"list", "mark"}),
}
ROLES = tuple(ROLE_PERMISSIONS)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def check_classification(value: str) -> str:
    if value not in LEVEL:
        raise InputError(f"unknown classification {value!r}; expected one of {CLASSIFICATIONS}")
    return value


def check_roles(roles: Iterable[str]) -> list[str]:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLE_PERMISSIONS]
    if unknown:
        raise InputError(f"unknown role(s) {unknown}; expected some of {list(ROLES)}")
    return roles


def decide(
    roles: Iterable[str] | None,
    clearance: str | None,
    action: str,
    classification: str | None = None,
) -> Decision:
    """Allow only when a role grants `action` and clearance covers `classification`."""
    if roles is None or clearance is None:
        return Decision(False, "not authenticated")
    roles = list(roles)
    granting = [r for r in roles if action in ROLE_PERMISSIONS.get(r, ())]
    if not granting:
        return Decision(False, f"role(s) {roles or 'none'} do not permit {action}")
    if classification is not None:
        if LEVEL.get(clearance, -1) < LEVEL.get(classification, len(LEVEL)):
            return Decision(
                False, f"clearance {clearance} is below the classification {classification}"
            )
        return Decision(True, f"role {granting[0]} permits {action}; clearance {clearance}")
    return Decision(True, f"role {granting[0]} permits {action}")


def classify(metadata: Mapping[str, Any]) -> tuple[str, str]:
    """(classification, reason) of a checkpoint from the metadata of its training data.

    Data whose PII was not scrubbed (or where that is not recorded) makes the model
    restricted; scrubbed data makes it internal; `public` needs scrubbed data and an
    explicit `classification: public` from whoever stores it.
    """
    scrubbed = metadata.get("pii_scrubbed") is True
    derived = "internal" if scrubbed else "restricted"
    reason = (
        "trained on PII-scrubbed data"
        if scrubbed
        else "trained on data without a recorded PII scrub (pii_scrubbed is not true)"
    )
    if metadata.get("contains_restricted_sources") is True:
        derived, reason = "restricted", "trained on restricted sources"
    requested = metadata.get("classification")
    if requested is None:
        return derived, reason
    requested = check_classification(str(requested))
    if requested == "public" and scrubbed and derived == "internal":
        return "public", "declared public by the owner; data PII-scrubbed"
    if LEVEL[requested] > LEVEL[derived]:
        return requested, f"raised to {requested} by the owner ({reason})"
    return derived, reason + (
        f"; requested {requested} not allowed" if requested != derived else ""
    )
