"""Every Redis key the server uses, in one place.

All keys of one showtime carry the hash tag ``{st:<id>}`` so that they live in
one hash slot: the hold scripts touch several of them atomically, and Redis
Cluster shards by showtime.
"""

from __future__ import annotations


def tag(showtime: int) -> str:
    return f"{{st:{showtime}}}"


def seat_prefix(showtime: int) -> str:
    """Prefix of ``seat:{st:<id>}:<seat>``; the scripts append the seat id."""
    return f"seat:{tag(showtime)}:"


def seat(showtime: int, seat_id: str) -> str:
    return f"{seat_prefix(showtime)}{seat_id}"


def expiries(showtime: int) -> str:
    """Sorted set: held seat -> deadline in ms of Redis' clock."""
    return f"exp:{tag(showtime)}"


def booked(showtime: int) -> str:
    return f"booked:{tag(showtime)}"


def booking_refs(showtime: int) -> str:
    """Hash: booked seat -> reference of the booking that bought it."""
    return f"bref:{tag(showtime)}"


def mine_prefix(showtime: int) -> str:
    return f"mine:{tag(showtime)}:"


def mine(showtime: int, holder: str) -> str:
    """Set of the seats one holder holds in one showtime."""
    return f"{mine_prefix(showtime)}{holder}"


def lapsed(showtime: int, holder: str) -> str:
    """Set of the seats whose hold by ``holder`` expired and that the holder has
    not held since (kept an hour). The scripts derive it from ``mine_prefix``."""
    return f"{mine(showtime, holder)}:lapsed"


def address_prefix(showtime: int) -> str:
    """Prefix of ``addr:{st:<id>}:<address>``: a sorted set of the seats held
    from one client address (IPv4, or IPv6 /64) -> their deadline, for the
    per-address seat cap. The hold script appends the address."""
    return f"addr:{tag(showtime)}:"


def address_seats(showtime: int, address: str) -> str:
    return f"{address_prefix(showtime)}{address}"


def seat_addresses(showtime: int) -> str:
    """Hash: held seat -> the client address of its latest hold (what tells a
    live entry of an address set from one whose hold ended)."""
    return f"addrof:{tag(showtime)}"


def mirror_marker(part: int | None = None) -> str:
    """Present while Redis holds the mirror of PostgreSQL's bookings (booked and
    pending seats); a flushed or restarted Redis lacks it, which asks for a
    reconciliation.

    On a Redis Cluster each master mirrors its own showtimes and may lose them
    alone, so each gets a marker: ``part`` picks a hash tag, and the engine
    uses, for every master, the first part whose slot that master serves.
    """
    return "mirror:bookings" if part is None else f"mirror:bookings:{{m{part}}}"


def events(showtime: int) -> str:
    """The showtime's event stream; an entry id is the room's offset."""
    return f"ev:{tag(showtime)}"


def epoch(showtime: int) -> str:
    """The epoch of the showtime's stream: offsets are comparable only within one
    (set by the hold scripts, see holds/lua/_prelude.lua)."""
    return f"epoch:{tag(showtime)}"


def wake(instance: str) -> str:
    """A stream the change-feed reader of one instance blocks on besides its rooms.

    Appending to it interrupts the blocking read so that a newly opened room
    is read at once rather than after the block times out.
    """
    return f"wake:{{inst:{instance}}}"


def slot_wake(showtime: int, instance: str) -> str:
    """The wake stream of an instance's reader of one hash slot, on a Redis Cluster.

    One XREAD may only name keys of one slot, so it lives in the slot of the
    showtime whose room opened the reader.
    """
    return f"wake:{tag(showtime)}:{instance}"


def holder_showtimes(holder: str) -> str:
    """Set of the showtimes a holder has held seats in lately.

    The seat keys are per showtime; this index across showtimes is how a
    guest's holds are found when the guest signs in (see HoldEngine.move).
    """
    return f"holding:{{u:{holder}}}"


def throttle(name: str, subject: str) -> str:
    """A rate-limit counter, e.g. failed log-ins of one account or one address."""
    return f"throttle:{name}:{subject}"
