"""Domain errors: what went wrong, as a kind, a code, a message for people and the details (which fields, why).

Services raise `DomainError` subclasses and say nothing of HTTP: the shell says each kind in its own terms, the API
and the pages as a status (`citymgmt.api.errors.HTTP_STATUS`, the one map), Open311 in its error list, the command
line as a message and exit status 1.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What sort of refusal an error is: the shell's answer follows from it (an HTTP status, say)."""

    bad_request = "bad_request"  # the request itself makes no sense (a value no field can hold, a bad header)
    unauthenticated = "unauthenticated"  # who is asking is not known
    forbidden = "forbidden"  # known, and not allowed
    not_found = "not_found"
    conflict = "conflict"  # the thing changed or exists already
    invalid = "invalid"  # well formed, and not acceptable (details name the fields)
    precondition_required = "precondition_required"  # a condition the caller must state is missing (If-Match)
    too_many_attempts = "too_many_attempts"  # try again after `retry_after` seconds
    unavailable = "unavailable"  # a service it needs is down
    failed = "failed"  # an operation of the system's own failed (a backup)


class DomainError(Exception):
    kind = Kind.bad_request
    code = "bad_request"

    def __init__(
        self, message: str, *, details: Any = None, code: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after  # seconds, when trying again later can succeed
        if code is not None:
            self.code = code


class ValidationError(DomainError):
    kind = Kind.invalid
    code = "validation_error"


class NotFound(DomainError):
    kind = Kind.not_found
    code = "not_found"


class Forbidden(DomainError):
    kind = Kind.forbidden
    code = "forbidden"


class Conflict(DomainError):
    kind = Kind.conflict
    code = "conflict"


class PreconditionRequired(DomainError):
    kind = Kind.precondition_required
    code = "precondition_required"


class Unavailable(DomainError):
    kind = Kind.unavailable
    code = "unavailable"


class TooManyAttempts(DomainError):
    kind = Kind.too_many_attempts
    code = "too_many_attempts"
