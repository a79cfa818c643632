"""Cursor attacks through the read handler: any flipped bit, any truncation, a replay under another
account or another query, an expired cursor: 400 invalid_cursor, and no line in the answer."""

from __future__ import annotations

import random

import pytest

from billing.api import cursor, write
from tests.api.apisupport import apply, call, make_account, usage_event


@pytest.fixture
def two_accounts(aws):
    write.reset()
    mine, theirs = make_account("acct_mine"), make_account("acct_theirs")
    apply("acct_mine", *[usage_event(f"m{i}", "acct_mine", urls=i + 1) for i in range(4)])
    apply("acct_theirs", *[usage_event(f"t{i}", "acct_theirs", urls=i + 1) for i in range(4)])
    yield mine, theirs
    write.reset()


def _cursor(key: str, route: str = "ledger", **query) -> str:
    reply = call(route, key, query={"limit": 1, **query})
    assert reply.status == 200 and reply.body["next_cursor"]
    return reply.body["next_cursor"]


def _rejected(key: str, token: str, route: str = "ledger", **query) -> bool:
    reply = call(route, key, query={"limit": 1, "cursor": token, **query})
    return reply.status == 400 and reply.error_code == "invalid_cursor" and "data" not in reply.body


def _flip(token: str, index: int, bit: int) -> str:
    return token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1:]


def test_every_sampled_bit_flip_and_truncation_is_rejected(two_accounts):
    mine, _ = two_accounts
    token = _cursor(mine.read_key)
    rng = random.Random(7)
    positions = sorted(rng.sample(range(len(token)), min(40, len(token))))
    flipped = {_flip(token, i, rng.randrange(6)) for i in positions} - {token}
    # base64url without padding can decode two spellings to the same bytes; those are the same cursor
    accepted = [t for t in flipped if not _rejected(mine.read_key, t)]
    assert all(_same_bytes(t, token) for t in accepted), accepted
    cuts = sorted({*rng.sample(range(1, len(token)), 20), len(token) - 1, token.index("."), token.index(".") + 1})
    assert [n for n in cuts if not _rejected(mine.read_key, token[:n])] == []
    assert _rejected(mine.read_key, token + "A") and _rejected(mine.read_key, token + ".x")


def _same_bytes(a: str, b: str) -> bool:
    try:
        return [cursor._unb64(p) for p in a.split(".")] == [cursor._unb64(p) for p in b.split(".")]
    except ValueError:
        return False


def test_replay_under_another_account_or_query_or_after_expiry_is_rejected(two_accounts, monkeypatch):
    mine, theirs = two_accounts
    token = _cursor(mine.read_key)
    assert _rejected(theirs.read_key, token), "another account's cursor leaks nothing"
    assert _rejected(mine.read_key, token, direction="debit"), "another query"
    assert _rejected(mine.read_key, token, route="activity"), "another route"
    real_time = cursor.time.time
    monkeypatch.setattr(cursor.time, "time", lambda: real_time() + 10 * 24 * 3600)
    assert _rejected(mine.read_key, token), "expired"
