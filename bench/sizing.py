"""DynamoDB item sizes and capacity units, as the developer guide states them.

Item size (CapacityUnitCalculations): the sum over attributes of the UTF-8 length of the name plus
the value's size. String: UTF-8 bytes. Number: 1 byte per two significant digits (leading and
trailing zeros trimmed) plus 1. Binary: raw bytes. Boolean/null: 1. List/Map: 3 bytes plus, per
element, its size plus 1 byte (map keys count their UTF-8 length). Sets: the sum of their members.

Write units: 1 per started 1 KB of the item; an overwrite bills the larger of the item before and
after; TransactWriteItems doubles the table units. Each global secondary index whose entry a write
creates, changes or deletes bills 1 unit per started 1 KB of the projected entry (twice when the
index key changes: delete the old entry, put the new one). Read units: 1 per started 4 KB for a
strongly consistent read, half for an eventually consistent one, double inside transactions.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

WRITE_UNIT = 1024
READ_UNIT = 4096


def _number_size(text: str) -> int:
    digits = text.lstrip("+-")
    mantissa, _, _ = digits.lower().partition("e")
    significant = mantissa.replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(len(significant) / 2) + 1 if significant else 2


def value_size(value: dict[str, Any]) -> int:
    """Size of one AttributeValue ({"S": ...}, {"N": ...}, {"M": {...}}, ...) without its name."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """One global secondary index of a table, from the template."""

    name: str
    keys: tuple[str, ...]  # partition key, then sort key if any
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()

    def key_of(self, item: dict[str, Any] | None) -> tuple[str, ...] | None:
        """The entry's index key, or None when the item is not in this (sparse) index."""
        if not item or any(k not in item for k in self.keys):
            return None
        return tuple(str(item[k]) for k in self.keys)

    def projected(self, item: dict[str, Any], table_keys: tuple[str, ...]) -> dict[str, Any]:
        if self.projection == "ALL":
            return item
        names = set(table_keys) | set(self.keys) | (set(self.included) if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in names}


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def key_of(self, item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(item[k]) for k in self.keys)


def table_specs(template: dict[str, Any]) -> dict[str, TableSpec]:
    """Key schema and GSIs of every table of the template (logical id -> spec)."""
    from billing_local.template import table_definitions

    specs = {}
    for lid, definition in table_definitions(template).items():
        ordered = sorted(definition["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
        indexes = []
        for gsi in definition.get("GlobalSecondaryIndexes", []):
            gsi_keys = sorted(gsi["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
            projection = gsi.get("Projection", {})
            indexes.append(Index(gsi["IndexName"], tuple(k["AttributeName"] for k in gsi_keys),
                                 projection.get("ProjectionType", "ALL"),
                                 tuple(projection.get("NonKeyAttributes", ()))))
        specs[lid] = TableSpec(lid, tuple(k["AttributeName"] for k in ordered), tuple(indexes))
    return specs


def index_write_units(index: Index, table_keys: tuple[str, ...], old: dict[str, Any] | None,
                      new: dict[str, Any] | None) -> int:
    """GSI units of replacing `old` by `new` (None: absent) in the base table."""
    old_key, new_key = index.key_of(old), index.key_of(new)
    if old_key is None and new_key is None:
        return 0
    old_size = item_size(index.projected(old, table_keys)) if old_key is not None and old else 0
    new_size = item_size(index.projected(new, table_keys)) if new_key is not None and new else 0
    if old_key is None:
        return write_units(new_size)
    if new_key is None:
        return write_units(old_size)
    if old_key != new_key:
        return write_units(old_size) + write_units(new_size)
    if index.projected(old, table_keys) == index.projected(new, table_keys):  # type: ignore[arg-type]
        return 0
    return write_units(max(old_size, new_size))
