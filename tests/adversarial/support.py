"""Support of the adversarial suite: small, fresh moto tables per example, and a fast read of stored items."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from billing.settings import reset_settings
from billing_local.template import create_tables


@contextmanager
def fresh_tables(aws: Any, template: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Every table of the template under a new prefix, used by the domain for the duration; dropped after.

    moto copies every table on each TransactWriteItems, so each example gets its own small tables.
    """
    tables = create_tables(aws.ddb, template, f"a{uuid.uuid4().hex[:8]}-")
    saved = {name: os.environ[name] for name in ("BILLING_TABLE", "CONFIG_TABLE", "IDEMPOTENCY_TABLE")}
    os.environ["BILLING_TABLE"], os.environ["CONFIG_TABLE"] = tables["BillingTable"], tables["ConfigTable"]
    os.environ["IDEMPOTENCY_TABLE"] = tables["IdempotencyTable"]
    reset_settings()
    try:
        yield tables
    finally:
        for name in tables.values():
            aws.ddb.delete_table(TableName=name)
        os.environ.update(saved)
        reset_settings()


def stored_items(account_id: str) -> list[dict[str, Any]]:
    """The account's partition read straight from moto's backend (what verify.account_items queries).

    Checking after every step of thousands of examples, moto's HTTP response serializer would cost
    more than the system under test; the query path itself is exercised by verify's own tests.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].get_table(
        os.environ["BILLING_TABLE"])
    pk = f"A#{account_id}"
    return [item.to_regular_json() for item in table.all_items() if item.hash_key.value == pk]


@contextmanager
def verify_reads_backend() -> Iterator[None]:
    """verify.verify_account on the backend reader above (its logic unchanged)."""
    from billing import verify

    real = verify.account_items
    verify.account_items = stored_items
    try:
        yield
    finally:
        verify.account_items = real
