"""billing.aws's own item (de)serializer writes exactly what boto3's TypeSerializer writes, and reads it back alike."""

from __future__ import annotations

import json
from decimal import Decimal, Inexact, Rounded

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from billing import aws
from billing.events import UsageEvent, differing_fields
from billing.ledger import _entry_attrs, _stored_content
from tests.helpers import refund, usage

boto_serializer, boto_deserializer = TypeSerializer(), TypeDeserializer()

# what the domain stores: text, flags, exact numbers (money has 6 places), maps, lists, and a stray set
numbers = st.one_of(
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**12), max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: len(d.as_tuple().digits) <= 38
                                                             and -128 < d.as_tuple().exponent < 90),
)
scalars = st.one_of(st.text(max_size=20), st.booleans(), st.none(), numbers)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4),
                            st.frozensets(st.text(max_size=5), min_size=1, max_size=3).map(set)),
    max_leaves=20,
)
items = st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=8)


def boto_item(data: dict) -> dict:
    return {k: boto_serializer.serialize(v) for k, v in data.items() if v is not None}


@given(items)
def test_an_item_serializes_exactly_as_boto3_would(data):
    assert aws.to_item(data) == boto_item(data)


@given(items)
def test_an_item_reads_back_exactly_as_boto3_would(data):
    stored = boto_item(data)
    assert aws.from_item(stored) == {k: boto_deserializer.deserialize(v) for k, v in stored.items()}


def test_a_typical_ledger_entry_serializes_and_reads_back_as_with_boto3():
    entry = {
        "pk": "A#acct_1", "sk": "E#evt:e1", "kind": "entry", "amount": Decimal("7.000000"), "step": 0,
        "already_refunded": None, "flag": True,
        "lines": [{"id": "en_1.0", "amount": Decimal("-7.000000"), "balance_after": Decimal("50038.000000")}],
        "breakdown": {"units": 7, "rate": Decimal("1.000000"), "preview_free": Decimal(0)},
    }
    stored = aws.to_item(entry)
    assert stored == boto_item(entry)
    assert aws.from_item(stored) == {k: boto_deserializer.deserialize(v) for k, v in stored.items()}


@pytest.mark.parametrize("number", [Decimal("1." + "1" * 40), 10**40 + 1, Decimal("1e-200")])
def test_a_number_dynamodb_cannot_hold_exactly_raises_as_with_boto3(number):
    with pytest.raises((Inexact, Rounded)):
        boto_serializer.serialize(number)
    with pytest.raises((Inexact, Rounded)):
        aws.to_value(number)


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), object()])
def test_what_boto3_refuses_is_refused(value):
    with pytest.raises(TypeError):
        aws.to_value(value)


# -- the entry's content: only what its other attributes do not hold, rebuilt whole for comparison
def entry_item_of(event: UsageEvent) -> dict:
    from billing.clock import stamp

    return {"account_id": event.account_id, "entry_kind": event.kind, "occurred_at": stamp(event.occurred_at),
            **_entry_attrs(event, event.account_id)}


@pytest.mark.parametrize("body", [
    usage("e1"), usage("e1", occurred_at="2026-12-04T09:31:42.250+02:00"),
    usage("e1", metadata={"a": [1, "x"]}, url="https://e.x/p"), refund("r1", "e1", refund_reason="bad"),
])
def test_the_stored_content_gives_back_the_canonical_event(body):
    event = UsageEvent.model_validate_json(json.dumps(body))
    item = entry_item_of(event)
    assert "event_id" not in json.loads(item["content"])
    assert _stored_content(item) == event.canonical_json()


@pytest.mark.parametrize("change", [
    {"task_id": "other"}, {"execution_id": "other"}, {"action_type": "crawl"}, {"urls": 99}, {"url": "https://o.x"},
    {"metadata": {"b": 1}}, {"occurred_at": "2026-12-04T09:00:01+00:00"}, {"phase": "other"},
])
def test_every_differing_field_is_still_named(change):
    first = UsageEvent.model_validate_json(json.dumps(usage("e1")))
    resend = UsageEvent.model_validate_json(json.dumps(usage("e1", **change)))
    assert differing_fields(_stored_content(entry_item_of(first)), resend) == sorted(change)


def test_the_same_instant_in_another_offset_is_no_difference():
    first = UsageEvent.model_validate_json(json.dumps(usage("e1")))
    resend = UsageEvent.model_validate_json(json.dumps(usage("e1", occurred_at="2026-12-04T11:00:00+02:00")))
    assert differing_fields(_stored_content(entry_item_of(first)), resend) == []
