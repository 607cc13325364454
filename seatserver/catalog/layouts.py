"""Seat layouts as JSON: the models that validate them and the seats they place.

A layout lists rows front to back; each row lists its seats left to right,
with gaps (aisles, pillars) between them::

    {"screen": "top",
     "rows": [{"row": "A", "seats": [{"gap": 1},
                                      {"number": 1, "type": "silver", "accessible": true},
                                      {"number": 2, "type": "silver", "companion_of": "A1"},
                                      {"gap": 2},
                                      {"number": 3, "type": "silver"}]}]}

A seat's grid position is its ``x`` (or the cell after the previous item)
and its row's ``y`` (or the row's index); its id is ``row + number`` unless
given. Every refusal is a ``BadLayout`` whose message names the row and seat,
because the person fixing it is looking at a seat plan, not at a JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from seatserver.errors import BadLayout

SEAT_ID_PATTERN = r"^[A-Za-z0-9-]{1,16}$"  # as the seats table's CHECK
ROW_PATTERN = r"^[A-Za-z0-9]{1,4}$"
SEAT_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
MAX_ROWS = 100
MAX_SEATS = 2000
MAX_COORD = 499


class LayoutSeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int = Field(ge=1, le=999, description="The number printed on the seat.")
    type: str = Field(pattern=SEAT_TYPE_PATTERN, description="A code of `seat_types`.")
    x: int | None = Field(default=None, ge=0, le=MAX_COORD,
                          description="Grid column; default: the cell after the previous item.")
    id: str | None = Field(default=None, pattern=SEAT_ID_PATTERN,
                           description="Seat id on the wire; default: row + number (`C7`).")
    accessible: bool = Field(default=False, description="A wheelchair space.")
    companion_of: str | None = Field(
        default=None, pattern=SEAT_ID_PATTERN,
        description="The id of the accessible seat beside it that this seat accompanies.")


class LayoutGap(BaseModel):
    """Empty cells between seats: an aisle, a pillar, a stair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gap: int = Field(ge=1, le=50, description="Width in seat cells.")


def _item_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "gap" if "gap" in value else "seat"
    return "gap" if isinstance(value, LayoutGap) else "seat"


LayoutItem = Annotated[
    Annotated[LayoutSeat, Tag("seat")] | Annotated[LayoutGap, Tag("gap")],
    Discriminator(_item_kind),
]


class LayoutRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    row: str = Field(pattern=ROW_PATTERN, description="The row's label (`A`, `12`).")
    y: int | None = Field(default=None, ge=0, le=MAX_COORD,
                          description="Grid line; default: the row's index in `rows`.")
    seats: list[LayoutItem] = Field(max_length=400)


@dataclass(frozen=True, slots=True)
class PlacedSeat:
    """A seat of a validated layout at its grid position: a row of `seats`."""

    seat_id: str
    row: str
    number: int
    seat_type: str
    x: int
    y: int
    accessible: bool
    companion_of: str | None


class SeatLayout(BaseModel):
    """A screen's seat plan; validating it places every seat or says what is wrong."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    screen: Literal["top", "bottom"] = Field(
        default="top", description="Where the screen is drawn, above or below the rows.")
    rows: list[LayoutRow] = Field(min_length=1, max_length=MAX_ROWS)

    _placed: list[PlacedSeat] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _place(self) -> SeatLayout:
        self._placed = _place(self.rows)
        return self

    @property
    def seats(self) -> list[PlacedSeat]:
        return list(self._placed)

    @property
    def width(self) -> int:
        return max(s.x for s in self._placed) + 1

    @property
    def height(self) -> int:
        return max(s.y for s in self._placed) + 1

    def hints(self) -> dict[str, Any]:
        """The drawing hints `screens.layout` keeps (and the seat map sends)."""
        return {"width": self.width, "height": self.height, "screen": self.screen}

    def check_types(self, known: Sequence[str]) -> None:
        """Refuse seat types that are not rows of `seat_types`."""
        for seat in self._placed:
            if seat.seat_type not in known:
                raise BadLayout(
                    f"row {seat.row} seat {seat.number}: unknown seat type {seat.seat_type!r}"
                    f" (known: {', '.join(sorted(known))})", [seat.seat_id])


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("bad_layout", message)


def _place(rows: Sequence[LayoutRow]) -> list[PlacedSeat]:
    placed: list[PlacedSeat] = []
    labels: dict[str, int] = {}
    lines: dict[int, str] = {}
    for index, row in enumerate(rows):
        if row.row in labels:
            raise _fail(f"row {row.row}: the label is used twice (rows {labels[row.row] + 1} "
                        f"and {index + 1})")
        labels[row.row] = index
        y = index if row.y is None else row.y
        if y in lines:
            raise _fail(f"row {row.row}: y {y} is already row {lines[y]}'s")
        lines[y] = row.row
        placed.extend(_place_row(row, y))
        if len(placed) > MAX_SEATS:
            raise _fail(f"row {row.row}: a layout has at most {MAX_SEATS} seats")
    _check_unique(placed)
    _check_companions(placed)
    return placed


def _place_row(row: LayoutRow, y: int) -> list[PlacedSeat]:
    seats: list[PlacedSeat] = []
    numbers: set[int] = set()
    x = 0
    for item in row.seats:
        if isinstance(item, LayoutGap):
            x += item.gap
            continue
        name = f"row {row.row} seat {item.number}"
        if item.number in numbers:
            raise _fail(f"{name}: the number is used twice in the row")
        numbers.add(item.number)
        if item.x is not None:
            x = item.x
        if x > MAX_COORD:
            raise _fail(f"{name}: x {x} is past the grid's last column {MAX_COORD}")
        seat_id = item.id or f"{row.row}{item.number}"
        if len(seat_id) > 16:
            raise _fail(f"{name}: seat id {seat_id!r} is longer than 16 characters")
        seats.append(PlacedSeat(seat_id, row.row, item.number, item.type, x, y,
                                item.accessible, item.companion_of))
        x += 1
    if not seats:
        raise _fail(f"row {row.row}: the row has no seats")
    return seats


def _check_unique(placed: Sequence[PlacedSeat]) -> None:
    by_id: dict[str, PlacedSeat] = {}
    by_cell: dict[tuple[int, int], PlacedSeat] = {}
    for seat in placed:
        name = f"row {seat.row} seat {seat.number}"
        other = by_id.get(seat.seat_id)
        if other is not None:
            raise _fail(f"{name}: seat id {seat.seat_id} is also row {other.row} "
                        f"seat {other.number}'s")
        by_id[seat.seat_id] = seat
        other = by_cell.get((seat.x, seat.y))
        if other is not None:
            raise _fail(f"{name}: position ({seat.x}, {seat.y}) is also row {other.row} "
                        f"seat {other.number}'s")
        by_cell[(seat.x, seat.y)] = seat


def _check_companions(placed: Sequence[PlacedSeat]) -> None:
    by_id = {s.seat_id: s for s in placed}
    for seat in placed:
        if seat.companion_of is None:
            continue
        name = f"row {seat.row} seat {seat.number}"
        if seat.accessible:
            raise _fail(f"{name}: a wheelchair space cannot also be a companion seat")
        partner = by_id.get(seat.companion_of)
        if partner is None:
            raise _fail(f"{name}: companion of {seat.companion_of}, which is not a seat "
                        "of this layout")
        if not partner.accessible:
            raise _fail(f"{name}: companion of {seat.companion_of}, which is not an "
                        "accessible seat")
        if partner.y != seat.y or abs(partner.x - seat.x) != 1:
            raise _fail(f"{name}: companion of {seat.companion_of}, which is not right "
                        "beside it in the same row")


def parse_layout(data: object) -> SeatLayout:
    """Validate a layout from decoded JSON; ``BadLayout`` says where it is wrong."""
    try:
        return SeatLayout.model_validate(data)
    except ValidationError as err:
        raise BadLayout(layout_error_message(err, data)) from None


def layout_error_message(err: ValidationError, data: object, prefix: tuple[Any, ...] = ()
                         ) -> str:
    """The first errors of a layout, each placed by row and seat rather than JSON path.

    ``prefix`` is where the layout sits in a larger document (``("layout",)``).
    """
    parts = []
    for detail in err.errors()[:3]:
        loc = tuple(detail["loc"])[len(prefix):]
        where = _where(data, prefix, loc)
        parts.append(f"{where}: {detail['msg']}" if where else str(detail["msg"]))
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _where(data: object, prefix: tuple[Any, ...], loc: tuple[Any, ...]) -> str:
    """'row C seat 4, type' for ('rows', 2, 'seats', 5, 'seat', 'type')."""
    for key in prefix:
        data = _child(data, key)
    if len(loc) < 2 or loc[0] != "rows" or not isinstance(loc[1], int):
        return ".".join(str(p) for p in loc)
    row = _child(_child(data, "rows"), loc[1])
    label = _child(row, "row")
    # A label or number that is itself the fault (NUL, 500 letters) is not
    # quoted back: the row's place says where without echoing it.
    fit = isinstance(label, str) and re.fullmatch(ROW_PATTERN, label) is not None
    where = f"row {label}" if fit else f"row #{loc[1] + 1}"
    rest = loc[2:]
    if len(rest) >= 2 and rest[0] == "seats" and isinstance(rest[1], int):
        item = _child(_child(row, "seats"), rest[1])
        number = _child(item, "number")
        where += (f" seat {number}" if isinstance(number, int) and abs(number) < 10**6
                  else f" item #{rest[1] + 1}")
        rest = rest[2:]
        if rest and rest[0] in ("seat", "gap"):  # the item's kind, not a field
            rest = rest[1:]
    return ", ".join([where, *(str(p) for p in rest)])


def _child(value: object, key: object) -> object:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def layout_of(seats: Sequence[PlacedSeat], screen: str = "top") -> SeatLayout:
    """The layout document of stored seats, with every position explicit."""
    rows: dict[str, list[PlacedSeat]] = {}
    for seat in sorted(seats, key=lambda s: (s.y, s.x)):
        rows.setdefault(seat.row, []).append(seat)
    return SeatLayout.model_validate({
        "screen": screen,
        "rows": [{"row": label, "y": members[0].y, "seats": [
            {"number": s.number, "type": s.seat_type, "x": s.x, "id": s.seat_id,
             "accessible": s.accessible, "companion_of": s.companion_of}
            for s in members]} for label, members in rows.items()],
    })
