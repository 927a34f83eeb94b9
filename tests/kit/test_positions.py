"""Positions: the keys of ``kit.positions`` are valid fractional index keys, in the order
of the integers they stand for, and a key between two always exists."""

from __future__ import annotations

import fractional_indexing

from todo_api.kit.positions import Neighbours, key_between, position_key


def test_position_keys_are_valid_and_sort_as_their_integers() -> None:
    """``position_key(n)`` (PostgreSQL's "last" keys, the migrated order) is a key the
    library accepts, and keys sort bytewise as their integers do, across digit counts."""
    numbers = [0, 1, 9, 10, 15, 16, 255, 256, 4095, 4096, 2**31, 2**40, 2**63 - 1]
    keys = [position_key(n) for n in numbers]
    for key in keys:
        fractional_indexing.validate_order_key(key)
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert (position_key(1), position_key(255), position_key(256)) == ("a1", "bFF", "c100")


def test_a_key_between_always_exists_and_grows_slowly() -> None:
    """500 keys, each put between the last one and its upper neighbour (the same gap,
    shrinking: the worst case), stay in order and grow by at most a character every
    five moves (a base-62 digit holds about six halvings); first and last keys exist."""
    low, high = position_key(41), position_key(42)
    for _ in range(500):
        middle = key_between(low, high)
        assert low < middle < high
        low = middle
    assert len(low) <= len(position_key(41)) + 500 // 5 + 1
    assert key_between(None, "a0") < "a0" < key_between("a0", None)


def test_neighbours_hold_a_position_strictly_between_them() -> None:
    """A move to where a row already is changes nothing: ``hold`` says so."""
    assert Neighbours(True, "a1", "a3").hold("a2")
    assert not Neighbours(True, "a1", "a3").hold("a3")
    assert Neighbours(True, None, "a1").hold("a0")
    assert Neighbours(True, "a1", None).hold("a2")
    assert not Neighbours(True, "a1", None).hold("a1")
