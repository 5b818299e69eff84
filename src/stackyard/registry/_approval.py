"""Approval statuses and the transitions between them (one table, one check)."""

from __future__ import annotations

from stackyard.errors import ConflictError, UsageError

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
ALLOWED: dict[str, tuple[str, ...]] = {
    PENDING: (APPROVED, REJECTED),
    APPROVED: (REJECTED,),   # revoke an approval
    REJECTED: (),            # final: register a new version instead
}


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise UsageError(f"approval status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def check_transition(ref: str, current: str, new: str) -> None:
    check_status(new)
    if new not in ALLOWED[current]:
        allowed = ", ".join(ALLOWED[current]) or "none (register a new version instead)"
        raise ConflictError(f"{ref} is {current}; it cannot become {new}. "
                         f"Allowed from {current}: {allowed}")
