"""Property: any sequence of usage events, redeliveries, refunds and grants keeps the ledger invariant."""

from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import ledger, verify
from billing.errors import Conflict
from billing.events import UsageEvent
from billing.settings import reset_settings
from billing_local.template import create_tables
from tests.helpers import refund, usage

NO_WAIT = ledger.Context(sleep=lambda _: None)

step = st.one_of(
    st.tuples(st.just("usage"), st.integers(0, 11), st.sampled_from(["scrape", "crawl", "search", "api_call"]),
              st.integers(0, 400), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("redeliver"), st.integers(0, 11)),
    st.tuples(st.just("refund"), st.integers(0, 11), st.integers(0, 3)),
    st.tuples(st.just("grant"), st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(5000), places=6),
              st.integers(0, 3)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_random_histories_keep_the_invariant(aws, template, steps):
    tables = create_tables(aws.ddb, template, f"p{uuid.uuid4().hex[:6]}-")  # a fresh, small table per example
    os.environ["BILLING_TABLE"], os.environ["CONFIG_TABLE"] = tables["BillingTable"], tables["ConfigTable"]
    reset_settings()
    try:
        ledger.create_account("acct_p", ctx=NO_WAIT)
        sent: dict[int, dict] = {}
        granted: dict[int, Decimal] = {}
        for s in steps:
            if s[0] == "usage":
                _, n, action, urls, attempt, preview = s
                event = usage(f"u{n}", "acct_p", action_type=action, urls=urls, attempt=attempt, preview=preview,
                              execution_id=f"x{n % 3}", task_id=f"t{n % 2}")
                sent.setdefault(n, event)
                ledger.apply_events("acct_p", [UsageEvent.model_validate_json(json.dumps(event))], NO_WAIT)
            elif s[0] == "redeliver" and s[1] in sent:
                ledger.apply_events("acct_p", [UsageEvent.model_validate_json(json.dumps(sent[s[1]]))], NO_WAIT)
            elif s[0] == "refund":
                event = refund(f"r{s[1]}-{s[2]}", f"u{s[1]}", "acct_p", execution_id=f"x{s[1] % 3}",
                               task_id=f"t{s[1] % 2}")
                ledger.apply_events("acct_p", [UsageEvent.model_validate_json(json.dumps(event))], NO_WAIT)
            elif s[0] == "grant":
                granted.setdefault(s[2], s[1])
                try:
                    ledger.grant_promotional("acct_p", s[1], f"k{s[2]}", ctx=NO_WAIT)
                except Conflict:  # the key was used for another amount: refused, nothing written
                    assert granted[s[2]] != s[1]
            assert verify.verify_account("acct_p") == []
    finally:
        for name in tables.values():
            aws.ddb.delete_table(TableName=name)
        os.environ["BILLING_TABLE"], os.environ["CONFIG_TABLE"] = aws.tables["BillingTable"], aws.tables["ConfigTable"]
        reset_settings()
