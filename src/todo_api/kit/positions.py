"""Manual order: positions as fractional index keys (the API contract, "Subtasks
and manual order").

A position is a string that sorts bytewise (``COLLATE "C"`` on PostgreSQL,
``BINARY`` on SQLite). A move puts the moved row between its new neighbours
with a key strictly between theirs (``key_between``, the
``fractional-indexing`` library: base-62 keys, as Figma's and Linear's), so
it writes that row alone however long the list, and there is always room:
keys only grow by a character every few moves into the same gap.

"Last" is special on PostgreSQL, where a create is one statement: the key of
a new row is ``position_key(nextval('position_keys'))``, a column default,
so no sibling's key has to be read first. ``position_key(n)`` is the
fractional index key of the integer ``n`` (head letter for the number of hex
digits, then the digits), so keys from the sequence grow with ``n``; and
since every other key is made between two existing keys or before the
first, a key from the sequence is after every key of any sibling group. A
move to the end takes one too. On SQLite writes are serialised, and "last"
is ``key_between(greatest sibling key, None)``.

Clients see positions as opaque strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

from fractional_indexing import generate_key_between
from sqlalchemy import ColumnElement, Table, Text, bindparam, func, literal, select
from sqlalchemy.engine import Dialect

from todo_api.kit.database import Statements

POSITION_TYPE = Text().with_variant(Text(collation="C"), "postgresql")
"""A position column's type: compared bytewise on both databases."""

POSITION_SEQUENCE = "position_keys"
"""The PostgreSQL sequence whose values become "last" keys (migration 0003)."""


def key_between(before: str | None, after: str | None) -> str:
    """A position strictly between ``before`` and ``after`` (``None``: no bound on that side).

    ``before`` must sort before ``after``; both are keys this module made.

    Raises:
        fractional_indexing.FIError: the bounds are not keys, or not in order.
    """
    key: str = generate_key_between(before, after)
    return key


def position_key(number: int) -> str:
    """The fractional index key of the integer ``number`` >= 0, as PostgreSQL's
    ``position_key()`` makes it: ``1`` is ``"a1"``, ``255`` is ``"bFF"``."""
    digits = f"{number:X}"
    return chr(ord("a") + len(digits) - 1) + digits


class Last(Enum):
    """``after_id`` omitted: the moved row goes last among its new siblings."""

    LAST = "last"


LAST: Final = Last.LAST

AfterId = int | None | Last
"""Where a move puts a row: right after the sibling with this id, first (``None``), or
last (``LAST``)."""


class Neighbours(NamedTuple):
    """The keys a moved row goes between (``None``: no bound on that side), and whether
    ``after_id`` named a sibling (always true for first and last)."""

    found: bool
    before: str | None
    after: str | None

    def hold(self, position: str) -> bool:
        """Whether ``position`` already lies between them: a move there changes nothing."""
        return (self.before is None or self.before < position) and (
            self.after is None or position < self.after
        )


@lru_cache(maxsize=64)
def _neighbours_statement(
    table: Table, group: tuple[ColumnElement[bool], ...], place: Literal["first", "last", "after"]
) -> Any:
    """The statement of ``neighbour_keys``, built once per table, group and kind of place
    (the compiled-statement cache is keyed by the statement)."""
    siblings = (
        select(table.c.position).where(*group, table.c.id != bindparam("moved_id")).subquery()
    )
    if place == "last":
        return select(func.max(siblings.c.position).label("before"), literal(None).label("after"))
    if place == "first":
        return select(literal(None).label("before"), func.min(siblings.c.position).label("after"))
    before = (
        select(table.c.position)
        .where(*group, table.c.id == bindparam("after_id"))
        .scalar_subquery()
    )
    following = select(func.min(siblings.c.position)).where(siblings.c.position > before)
    return select(before.label("before"), following.scalar_subquery().label("after"))


async def neighbour_keys(
    db: Statements,
    table: Table,
    group: tuple[ColumnElement[bool], ...],
    group_values: Mapping[str, Any],
    moved_id: int | None,
    after_id: AfterId,
) -> Neighbours:
    """The keys around the place ``after_id`` names among the rows of ``table`` that match
    ``group`` (the siblings, ``moved_id`` itself left out), in one statement.

    ``table`` has ``id`` and ``position``; ``group`` (the same tuple every call, so
    the statement is built once) filters on the owner, its bound parameters take
    ``group_values``.
    """
    parameters: dict[str, Any] = {**group_values, "moved_id": moved_id or 0}
    if after_id is LAST:
        statement = _neighbours_statement(table, group, "last")
    elif after_id is None:
        statement = _neighbours_statement(table, group, "first")
    else:
        statement = _neighbours_statement(table, group, "after")
        parameters["after_id"] = after_id
    row = (await db.fetch(statement, parameters))[0]
    before_key, after_key = row["before"], row["after"]
    if isinstance(after_id, int) and before_key is None:
        return Neighbours(False, None, None)
    return Neighbours(True, before_key, after_key)


_NEXT_KEY = func.position_key(func.nextval(POSITION_SEQUENCE))
_NEW_POSITION = bindparam("new_position", type_=POSITION_TYPE)


def takes_next_key(dialect: Dialect, neighbours: Neighbours) -> bool:
    """Whether a row moved between ``neighbours`` takes a new "last" key from the
    sequence (PostgreSQL, nothing after it) rather than a key computed here."""
    return neighbours.after is None and dialect.name == "postgresql"


def position_value(next_key: bool) -> ColumnElement[str]:
    """A moved row's ``position`` in a statement: the sequence's next "last" key, or the
    parameter ``new_position`` (``position_parameters``)."""
    return _NEXT_KEY if next_key else _NEW_POSITION


def position_parameters(dialect: Dialect, neighbours: Neighbours) -> dict[str, Any]:
    """The value of ``new_position`` for a row moved between ``neighbours``, if it takes one."""
    if takes_next_key(dialect, neighbours):
        return {}
    return {"new_position": key_between(neighbours.before, neighbours.after)}
