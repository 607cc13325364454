"""Error types that carry their wire code and HTTP status.

Raised anywhere below the edge; mapped to a WebSocket ``ack``/``error`` frame
or an HTTP ``{"error": {...}}`` body in exactly one place each
(``realtime.commands`` and ``http_errors``). The codes are a closed list,
documented in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Sequence

# code -> HTTP status. The closed list of codes a client may ever see.
CODES: dict[str, int] = {
    "bad_message": 400,
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "unknown_showtime": 404,
    "unknown_seat": 422,
    "seats_unavailable": 409,
    "too_many_seats": 409,
    "not_holder": 409,
    "rate_limited": 429,
    "sales_closed": 409,
    "nothing_to_book": 422,
    "hold_expired": 409,
    "idempotency_mismatch": 422,
    "request_in_flight": 409,
    "cancel_closed": 409,
    "bad_signature": 400,
    "payment_mismatch": 422,
    "invalid_input": 422,
    "bad_layout": 422,
    "already_exists": 409,
    "in_use": 409,
    "showtime_overlap": 409,
    "bad_cursor": 400,
    "payment_unavailable": 503,
    "unavailable": 503,
    "internal_error": 500,
    "invalid_credentials": 401,
    "csrf_failed": 403,
    "email_taken": 409,
    "invalid_token": 400,
    "not_eligible": 403,
}


class SeatError(Exception):
    """Base of every error that has a wire code."""

    code = "internal_error"

    def __init__(self, message: str, seats: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.seats = list(seats)

    @property
    def status(self) -> int:
        return CODES[self.code]


class BadMessage(SeatError):
    code = "bad_message"


class BadRequest(SeatError):
    code = "bad_request"


class Unauthorized(SeatError):
    code = "unauthorized"


class Forbidden(SeatError):
    code = "forbidden"


class NotFound(SeatError):
    code = "not_found"


class UnknownShowtime(SeatError):
    code = "unknown_showtime"


class UnknownSeat(SeatError):
    code = "unknown_seat"


class SeatsUnavailable(SeatError):
    code = "seats_unavailable"


class TooManySeats(SeatError):
    code = "too_many_seats"


class NotHolder(SeatError):
    code = "not_holder"


class RateLimited(SeatError):
    """Too many tries; ``retry_after_s``, when known, becomes HTTP's Retry-After."""

    code = "rate_limited"

    def __init__(self, message: str, seats: Sequence[str] = (), *,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message, seats)
        self.retry_after_s = retry_after_s


class SalesClosed(SeatError):
    code = "sales_closed"


class NothingToBook(SeatError):
    code = "nothing_to_book"


class HoldExpired(SeatError):
    code = "hold_expired"


class IdempotencyMismatch(SeatError):
    code = "idempotency_mismatch"


class RequestInFlight(SeatError):
    code = "request_in_flight"


class CancelClosed(SeatError):
    code = "cancel_closed"


class BadSignature(SeatError):
    """A payment callback or webhook whose signature or timestamp does not verify."""

    code = "bad_signature"


class PaymentMismatch(SeatError):
    code = "payment_mismatch"


class InvalidInput(SeatError):
    """A catalog entity that does not validate; the message names the field."""

    code = "invalid_input"


class BadLayout(SeatError):
    """A seat layout that does not validate; the message names the row and seat."""

    code = "bad_layout"


class AlreadyExists(SeatError):
    code = "already_exists"


class InUse(SeatError):
    """A change that would remove something bookings or showtimes still need."""

    code = "in_use"


class ShowtimeOverlap(SeatError):
    code = "showtime_overlap"


class BadCursor(SeatError):
    code = "bad_cursor"


class PaymentUnavailable(SeatError):
    """The payment provider failed or timed out; nothing was charged, retry."""

    code = "payment_unavailable"


class Unavailable(SeatError):
    """A backing service (Redis, PostgreSQL) cannot be reached right now."""

    code = "unavailable"


class InvalidCredentials(SeatError):
    """Unknown e-mail or wrong password: one answer for both, on purpose."""

    code = "invalid_credentials"


class CsrfFailed(SeatError):
    """A cookie-authenticated change without the page's CSRF token, or from another origin."""

    code = "csrf_failed"


class EmailTaken(SeatError):
    code = "email_taken"


class InvalidToken(SeatError):
    """A confirmation or reset token that is unknown, used or expired."""

    code = "invalid_token"


class NotEligible(SeatError):
    """A review by someone who has not seen the movie (no booked, past showtime)."""

    code = "not_eligible"


BY_CODE: dict[str, type[SeatError]] = {
    cls.code: cls
    for cls in (
        BadMessage, BadRequest, Unauthorized, Forbidden, NotFound, UnknownShowtime,
        UnknownSeat, SeatsUnavailable, TooManySeats, NotHolder,
        RateLimited, SalesClosed, NothingToBook, HoldExpired, IdempotencyMismatch,
        RequestInFlight, CancelClosed, BadSignature, PaymentMismatch, PaymentUnavailable,
        Unavailable, InvalidInput, BadLayout, AlreadyExists, InUse, ShowtimeOverlap, BadCursor,
        InvalidCredentials, CsrfFailed, EmailTaken, InvalidToken, NotEligible,
    )
}
