"""Every Redis key the server uses, in one place.

All keys of one showtime carry the hash tag ``{st:<id>}`` so that they live in
one hash slot: the hold scripts touch several of them atomically, and Redis
Cluster shards by showtime.
"""

from __future__ import annotations


def tag(showtime: int) -> str:
    return f"{{st:{showtime}}}"


def held(showtime: int) -> str:
    """Hash: held seat -> holder id."""
    return f"held:{tag(showtime)}"


def expiries(showtime: int) -> str:
    """Sorted set: held seat -> deadline in ms of Redis' clock."""
    return f"exp:{tag(showtime)}"


def booked(showtime: int) -> str:
    return f"booked:{tag(showtime)}"


def booking_refs(showtime: int) -> str:
    """Hash: booked seat -> reference of the booking that bought it."""
    return f"bref:{tag(showtime)}"


def mine(showtime: int) -> str:
    """Hash: holder id -> the seats it holds in the showtime, comma-joined
    (the per-holder limit and the snapshot's ``mine``)."""
    return f"mine:{tag(showtime)}"


def lapsed(showtime: int) -> str:
    """Hash: holder id -> the seats whose hold by it expired and that it has
    not held since, comma-joined; kept an hour after its last lapse, by
    ``lapsed_at``."""
    return f"lapsed:{tag(showtime)}"


def lapsed_at(showtime: int) -> str:
    """Sorted set: holder id -> when its last hold lapsed (ms of Redis' clock),
    by which ``lapsed`` entries older than an hour are ignored and pruned."""
    return f"lapsedat:{tag(showtime)}"


def address_seats(showtime: int) -> str:
    """Sorted set, every score 0: ``<address>|<seat>`` for each seat held from
    a client address (IPv4, or IPv6 /64), counted by lex range per address
    for the per-address seat cap (see ``address_entry``); entries of holds
    that ended are dropped lazily by the hold script (holds/lua/hold.lua)."""
    return f"addr:{tag(showtime)}"


def address_entry(address: str, seat_id: str) -> str:
    """A member of ``address_seats`` (the hold script builds the same)."""
    return f"{address}|{seat_id}"


def seat_addresses(showtime: int) -> str:
    """Hash: held seat -> the client address of its latest hold."""
    return f"addrof:{tag(showtime)}"


def hold_runs(showtime: int) -> str:
    """Hash: holder id -> when (ms of Redis' clock) its current run of holds
    began: the first hold it made while holding nothing in the showtime.
    Holds and extensions end by ``began + SEATSERVER_HOLD_MAX`` (see
    holds/lua/extend.lua); the entry goes when the holder's last hold ends."""
    return f"run:{tag(showtime)}"


def geometry(showtime: int) -> str:
    """Hash: the showtime's seat geometry and seating rules, versioned, for
    the orphan rule and best available (see holds/geometry.py for its fields);
    written by holds/lua/geometry.lua, kept a day after its last write."""
    return f"geo:{tag(showtime)}"


def sale(showtime: int) -> str:
    """Hash: the showtime's sale settings and its waiting room's state (see
    waiting/lua/_queue.lua for the fields); absent: no on-sale time and no
    waiting room, and the hold scripts check nothing."""
    return f"qm:{tag(showtime)}"


def admissions(showtime: int) -> str:
    """Sorted set: holder id -> when its admission ends (ms, Redis clock);
    the hold scripts refuse holders without a live one when the waiting room
    is on, and every hold moves the end later (holds/lua/_prelude.lua)."""
    return f"adm:{tag(showtime)}"


def queue(showtime: int) -> str:
    """Sorted set: waiting holder id -> its place (lowest first): the
    shuffled pre-queue at -n..-1, later arrivals by arrival number."""
    return f"q:{tag(showtime)}"


def prequeue(showtime: int) -> str:
    """Sorted set: holder id -> arrival number, of those who arrived before
    sales opened; shuffled into ``queue`` at the opening."""
    return f"qpre:{tag(showtime)}"


def queue_seen(showtime: int) -> str:
    """Sorted set: holder id -> when an instance last saw it connected while
    it waited (ms, Redis clock); one unseen for the grace when its turn comes
    has left, and is dropped (waiting/lua/_queue.lua)."""
    return f"qseen:{tag(showtime)}"


def admitter_lock(showtime: int) -> str:
    """String with a lease: the fencing token of the instance whose task
    admits buyers of the showtime (waiting/lua/lead.lua)."""
    return f"ql:{tag(showtime)}"


def blocked(showtime: int) -> str:
    """Set: the showtime's blocked seats (house seats, press, broken), kept
    off online sale; a mirror of PostgreSQL's seat_blocks, rebuilt from it
    with the bookings (bookings/reconcile.py)."""
    return f"blocked:{tag(showtime)}"


def queue_keys(showtime: int) -> list[str]:
    """Every key a waiting-room script may touch, in the order of KEYS in
    waiting/lua/_queue.lua."""
    return [sale(showtime), admissions(showtime), queue(showtime), prequeue(showtime),
            admitter_lock(showtime), queue_seen(showtime), mine(showtime)]


def showtime_keys(showtime: int) -> list[str]:
    """Every key a hold script may touch, in the order of KEYS in
    holds/lua/_prelude.lua: the scripts declare all of them on every call,
    as Redis (and the proxies and servers that check it) requires."""
    return [expiries(showtime), booked(showtime), events(showtime), epoch(showtime),
            held(showtime), mine(showtime), lapsed(showtime), lapsed_at(showtime),
            booking_refs(showtime), address_seats(showtime), seat_addresses(showtime),
            hold_runs(showtime), geometry(showtime), sale(showtime), admissions(showtime),
            blocked(showtime)]


def mirror_marker(part: int | None = None) -> str:
    """Present while Redis holds the mirror of PostgreSQL's bookings (booked and
    pending seats); a flushed or restarted Redis lacks it, which asks for a
    reconciliation.

    On a Redis Cluster each master mirrors its own showtimes and may lose them
    alone, so each gets a marker: ``part`` picks a hash tag, and the engine
    uses, for every master, the first part whose slot that master serves.
    """
    return "mirror:bookings" if part is None else f"mirror:bookings:{{m{part}}}"


EVENTS_PREFIX = "ev:{st:"


def events(showtime: int) -> str:
    """The showtime's event stream; an entry id is the room's offset."""
    return f"{EVENTS_PREFIX}{showtime}}}"


def showtime_of_events(key: bytes | str) -> int | None:
    """The showtime whose event stream ``key`` is, or None for any other key."""
    text = key.decode() if isinstance(key, bytes) else key
    if not text.startswith(EVENTS_PREFIX) or not text.endswith("}"):
        return None
    digits = text[len(EVENTS_PREFIX):-1]
    if not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits)


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


def login_challenge(digest: str) -> str:
    """A log-in waiting for its two-factor code (the challenge token's sha256
    in hex): the user id, for a few minutes."""
    return f"mfa:challenge:{digest}"


def webhook_collector_lease() -> str:
    """The instance that turns stream entries into webhook events (holder: its
    id, PX lease). Only an efficiency: the cursor's compare-and-set in
    PostgreSQL is what keeps two collectors from writing an entry twice."""
    return "webhooks:collector"
