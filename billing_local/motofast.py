"""A faster moto TransactWriteItems for benchmarks and long property tests.

moto's TransactWriteItems deep-copies every table it touches once per action, as a rollback
backup: with many items that is quadratic and dominates a run. `fast_transactions` keeps moto's
semantics (all or nothing, CancellationReasons) but backs up only the items the transaction
names. It changes how long moto takes, never what is written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def fast_transactions() -> Iterator[None]:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend_cls = models.DynamoDBBackend
    original = backend_cls.transact_write_items
    real_copy = models.copy

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup = []
        for action in transact_items:
            (op_type, op), = action.items()
            table = self.get_table(op["TableName"])
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = models.DynamoType(key[table.hash_key_attr])
            range_value = models.DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before = table.get_item(hash_value, range_value)
            backup.append((table, hash_value, range_value, copy.deepcopy(before)))
        models.copy = _NoTableCopy  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(backup):
                partition = table.items[hash_value] if table.range_key_attr else table.items
                slot = range_value if table.range_key_attr else hash_value
                if before is None:
                    partition.pop(slot, None)
                else:
                    partition[slot] = before
            raise
        finally:
            models.copy = real_copy

    backend_cls.transact_write_items = transact_write_items
    try:
        yield
    finally:
        backend_cls.transact_write_items = original
