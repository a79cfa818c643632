"""Every bad input answers its error with the contract's body and reads or writes nothing."""

from __future__ import annotations

import pytest
from apisupport import apply, billing_items, call, usage_event

from billing.api import cursor
from billing.clock import month_of, utcnow


@pytest.fixture
def lines(acct):
    apply(acct.account_id, *[usage_event(f"e{i}", acct.account_id, urls=1 + i, execution_id=f"x{i}") for i in range(5)])
    return acct


def first_cursor(key, route="ledger", **query):
    reply = call(route, key, query={"limit": 1, **query})
    assert reply.body["has_more"] is True
    return reply.body["next_cursor"]


BAD_PARAMETERS = [
    ("ledger", {"limit": 0}),
    ("ledger", {"limit": 100000}),
    ("ledger", {"limit": 201}),
    ("ledger", {"limit": "ten"}),
    ("ledger", {"from": "2026-12-05T00:00:00Z", "to": "2026-12-04T00:00:00Z"}),
    ("ledger", {"from": "yesterday"}),
    ("ledger", {"direction": "sideways"}),
    ("ledger", {"reason_code": "usage.teleport"}),
    ("ledger", {"execution_id": "bad id with spaces"}),
    ("activity", {"limit": 0}),
    ("activity", {"limit": 100000}),
    ("activity", {"direction": "up"}),
    ("activity", {"from": "2026-12-05T00:00:00Z", "to": "2026-12-04T00:00:00Z"}),
    ("statement", {"month": "2026-13"}),
    ("statement", {"month": "2026-1"}),
    ("statement", {"month": "december"}),
    ("statement", {}),
    ("statement", {"month": "2999-01"}),
    ("balance", {"include_active_lots": "maybe"}),
]


def test_bad_parameters_are_400(lines, api):
    before = billing_items(api)
    for route, query in BAD_PARAMETERS:
        reply = call(route, lines.read_key, query=query)
        assert reply.status == 400, (route, query, reply.body)
        assert reply.error_code == "invalid_request", (route, query)
        assert reply.body["error"]["message"] and reply.body["error"]["request_id"]
        assert "data" not in reply.body
    assert billing_items(api) == before


def test_the_current_month_is_not_in_the_future(lines):
    assert call("statement", lines.read_key, query={"month": month_of(utcnow())}).status == 200


def test_bad_parameters_without_a_key_are_401_first(lines):
    reply = call("ledger", None, query={"limit": 0})
    assert reply.status == 401 and reply.error_code == "unauthenticated"


def tamper(token: str) -> str:
    payload, mac = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return f"{flipped}.{mac}"


def test_forged_altered_foreign_or_expired_cursors_are_400(lines, other, monkeypatch):
    apply(other.account_id, *[usage_event(f"o{i}", other.account_id, execution_id=f"x{i}") for i in range(3)])
    for route in ("ledger", "activity"):
        check_bad_cursors(lines, other, route, monkeypatch)


def check_bad_cursors(lines, other, route, monkeypatch):
    token = first_cursor(lines.read_key, route)
    foreign = first_cursor(other.read_key, route)
    other_query = first_cursor(lines.read_key, route, direction="debit")
    bad = {
        "altered": tamper(token),
        "forged": "eyJhIjoiYWNjdF9hIn0.c2lnbmF0dXJl",
        "garbage": "not-a-cursor",
        "other account": foreign,
        "other query": other_query,
        "other route": first_cursor(lines.read_key, "activity" if route == "ledger" else "ledger"),
    }
    for name, value in bad.items():
        reply = call(route, lines.read_key, query={"limit": 1, "cursor": value})
        assert reply.status == 400 and reply.error_code == "invalid_cursor", name
        assert "data" not in reply.body, name
    # the other account's own cursor is not usable by this account's key: 400, and no data of theirs
    assert call(route, other.read_key, query={"limit": 1, "cursor": foreign}).status == 200
    real_time = cursor.time.time
    with monkeypatch.context() as later:  # undo only this patch, not the fixtures' environment
        later.setattr(cursor.time, "time", lambda: real_time() + 7200)
        expired = call(route, lines.read_key, query={"limit": 1, "cursor": token})
    assert expired.status == 400 and expired.error_code == "invalid_cursor"


def test_a_cursor_made_with_another_secret_is_rejected(lines, monkeypatch):
    from billing.settings import reset_settings

    token = first_cursor(lines.read_key)
    monkeypatch.setenv("CURSOR_SECRET", "another-secret-entirely")
    reset_settings()
    reply = call("ledger", lines.read_key, query={"limit": 1, "cursor": token})
    assert reply.status == 400 and reply.error_code == "invalid_cursor"
