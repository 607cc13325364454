"""Error types that carry their wire code and HTTP status.

Raised anywhere below the edge; mapped to a WebSocket ``ack``/``error`` frame
or an HTTP ``{"error": {...}}`` body in exactly one place each
(``realtime.commands`` and ``http.errors``). Each subclass declares its code
and status once, in its ``class`` line; ``CODES`` is collected from them and
is the closed list of codes a client may ever see, documented in
docs/protocol.md (a test holds the two together).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

# code -> HTTP status, filled in as each error class below is defined.
CODES: dict[str, int] = {"internal_error": 500}


class CodedError(Exception):
    """Base of every error that has a wire code: a bug, unless a subclass says
    otherwise (``internal_error``, 500). ``seats`` names the seats at fault."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init_subclass__(cls, *, code: str, status: int, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code in CODES:
            raise TypeError(f"two error types declare the code {code!r}")
        cls.code, cls.status = code, status
        CODES[code] = status

    def __init__(self, message: str, seats: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.seats = list(seats)

    def details(self) -> dict[str, Any]:
        """Fields a refusal carries besides its code, message and seats."""
        return {}


class BadMessage(CodedError, code="bad_message", status=400):
    """A WebSocket frame that cannot be understood at all."""


class BadRequest(CodedError, code="bad_request", status=400):
    """An HTTP request that cannot be read: its path, query or body."""


class Unauthorized(CodedError, code="unauthorized", status=401):
    pass


class Forbidden(CodedError, code="forbidden", status=403):
    pass


class NotFound(CodedError, code="not_found", status=404):
    pass


class UnknownShowtime(CodedError, code="unknown_showtime", status=404):
    pass


class UnknownSeat(CodedError, code="unknown_seat", status=422):
    pass


class SeatsUnavailable(CodedError, code="seats_unavailable", status=409):
    pass


class SeatBlocked(CodedError, code="seat_blocked", status=409):
    """Seats blocked off online sale for the showtime (house seats, press, a
    broken seat; ``seats`` names them): only the box office sells them."""


class TooManySeats(CodedError, code="too_many_seats", status=409):
    pass


class WouldOrphan(CodedError, code="would_orphan", status=409):
    """Seats that would leave a single free seat alone (``seats`` names it),
    where another choice of as many seats in the row would not."""


class CompanionSeat(CodedError, code="companion_seat", status=409):
    """A companion seat held without its wheelchair space, where the
    showtime's rule keeps companion seats for wheelchair users' parties."""


class NotHolder(CodedError, code="not_holder", status=409):
    pass


class NothingHeld(CodedError, code="nothing_held", status=409):
    """An ``extend`` from a holder that holds no seat in the showtime."""


class ExtendLimit(CodedError, code="extend_limit", status=409):
    """An ``extend`` that could move no deadline later: the holds already end
    where SEATSERVER_HOLD_MAX lets them (``limit_at``, ms of the server's clock)."""

    def __init__(self, message: str, seats: Sequence[str] = (), *, limit_at: int = 0) -> None:
        super().__init__(message, seats)
        self.limit_at = limit_at

    def details(self) -> dict[str, Any]:
        return {"limit_at": self.limit_at}


class RateLimited(CodedError, code="rate_limited", status=429):
    """Too many tries; ``retry_after_s``, when known, becomes HTTP's Retry-After."""

    def __init__(self, message: str, seats: Sequence[str] = (), *,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message, seats)
        self.retry_after_s = retry_after_s


class SalesClosed(CodedError, code="sales_closed", status=409):
    pass


class NotAdmitted(CodedError, code="not_admitted", status=403):
    """A hold in a showtime with a waiting room, from a buyer without a live
    admission (never admitted, or admitted and idle past its lifetime), or
    before the showtime goes on sale (``opens_at``, ms of the server's clock)."""

    def __init__(self, message: str, seats: Sequence[str] = (), *, opens_at: int = 0) -> None:
        super().__init__(message, seats)
        self.opens_at = opens_at

    def details(self) -> dict[str, Any]:
        return {"opens_at": self.opens_at} if self.opens_at else {}


class NothingToBook(CodedError, code="nothing_to_book", status=422):
    pass


class HoldExpired(CodedError, code="hold_expired", status=409):
    pass


class IdempotencyMismatch(CodedError, code="idempotency_mismatch", status=422):
    pass


class RequestInFlight(CodedError, code="request_in_flight", status=409):
    pass


class CancelClosed(CodedError, code="cancel_closed", status=409):
    pass


class BadSignature(CodedError, code="bad_signature", status=400):
    """A payment callback or webhook whose signature or timestamp does not verify."""


class PaymentMismatch(CodedError, code="payment_mismatch", status=422):
    pass


class InvalidInput(CodedError, code="invalid_input", status=422):
    """A JSON body whose fields do not validate; the message names the field."""


class BadLayout(CodedError, code="bad_layout", status=422):
    """A seat layout that does not validate; the message names the row and seat."""


class AlreadyExists(CodedError, code="already_exists", status=409):
    pass


class InUse(CodedError, code="in_use", status=409):
    """A change that would remove something bookings or showtimes still need."""


class ShowtimeOverlap(CodedError, code="showtime_overlap", status=409):
    pass


class BadCursor(CodedError, code="bad_cursor", status=400):
    pass


class PaymentUnavailable(CodedError, code="payment_unavailable", status=503):
    """The payment provider failed or timed out; nothing was charged, retry."""


class Unavailable(CodedError, code="unavailable", status=503):
    """A backing service (Redis, PostgreSQL) cannot be reached right now."""


class InvalidCredentials(CodedError, code="invalid_credentials", status=401):
    """Unknown e-mail or wrong password: one answer for both, on purpose."""


class InvalidCode(CodedError, code="invalid_code", status=401):
    """A wrong, used or malformed two-factor code or recovery code."""


class MfaRequired(CodedError, code="mfa_required", status=403):
    """A staff session that has not proved a two-factor code (enrolled account)."""


class MfaEnrolmentRequired(CodedError, code="mfa_enrolment_required", status=403):
    """An admin without two-factor authentication: enrol first."""


class ReauthRequired(CodedError, code="reauth_required", status=403):
    """A sensitive change without a code proved in the last five minutes."""


class LastAdmin(CodedError, code="last_admin", status=409):
    """A change that would leave no admin, or take an admin's own role away."""


class CsrfFailed(CodedError, code="csrf_failed", status=403):
    """A cookie-authenticated change without the page's CSRF token, or from another origin."""


class EmailTaken(CodedError, code="email_taken", status=409):
    pass


class InvalidToken(CodedError, code="invalid_token", status=400):
    """A confirmation or reset token that is unknown, used or expired."""


class NotEligible(CodedError, code="not_eligible", status=403):
    """A review by someone who has not seen the movie (no booked, past showtime)."""
