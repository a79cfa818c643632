"""Every read route through authorizer + handler, with the real event shapes of events/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from apisupport import apply, call, make_account, usage_event

from billing import ledger, verify
from billing.clock import month_of, utcnow
from billing.refresh import month_start, prev_month


@pytest.fixture
def busy(acct):
    """7 ledger lines: 2 grants, then 4 usage events, one of them split across two lots.

    e1 90 (daily), e2 30 (10 daily + 20 monthly: two lines), e3 10 (monthly, exec_2), e4 5 crawl (monthly, task_2)
    """
    apply(acct.account_id, usage_event("e1", acct.account_id, urls=90))
    apply(acct.account_id, usage_event("e2", acct.account_id, urls=30))
    apply(acct.account_id, usage_event("e3", acct.account_id, urls=10, execution_id="exec_2"))
    apply(acct.account_id, usage_event("e4", acct.account_id, urls=5, action_type="crawl", task_id="task_2",
                                       execution_id="exec_3"))
    return acct


def all_lines(key, **query):
    reply = call("ledger", key, query={"limit": 200, **query})
    assert reply.status == 200, reply.body
    assert reply.body["has_more"] is False and reply.body["next_cursor"] is None
    return reply.body["data"]


def pages(route, key, limit, **query):
    seen, cursor, count = [], None, 0
    while True:
        reply = call(route, key, query={"limit": limit, "cursor": cursor, **query})
        assert reply.status == 200, reply.body
        assert len(reply.body["data"]) <= limit
        seen += reply.body["data"]
        count += 1
        if not reply.body["has_more"]:
            assert reply.body["next_cursor"] is None
            return seen, count
        assert len(reply.body["data"]) == limit
        cursor = reply.body["next_cursor"]


def test_balance_by_bucket_with_lots_and_refresh_meta(busy):
    reply = call("balance", busy.read_key, query={"include_active_lots": True, "include_refresh_meta": True})
    assert reply.status == 200
    body = reply.body
    assert body["account_id"] == busy.account_id
    assert body["buckets"] == {"daily_free": {"available": "0"}, "monthly_plan": {"available": "1965"},
                               "promotional": {"available": "0"}}
    assert body["total_available"] == "1965" and body["overage"] == "0" and body["net_balance"] == "1965"
    assert [(lot["bucket"], lot["granted"], lot["remaining"]) for lot in body["active_lots"]] == [
        ("monthly_plan", "2000", "1965")]
    meta = body["refresh_meta"]
    assert meta["daily_free"]["period"] == "day" and meta["monthly_plan"]["period"] == "month"
    assert meta["monthly_plan"]["last_period"] == month_of(utcnow())
    assert meta["daily_free"]["next_refresh"] > body["as_of"]


def test_balance_without_flags_has_no_optional_parts(busy):
    body = call("balance", busy.read_key, query={}).body
    assert "active_lots" not in body and "refresh_meta" not in body


def test_balance_never_writes(busy, api):
    from apisupport import billing_items

    before = billing_items(api)
    call("balance", busy.read_key, query={"include_active_lots": True})
    assert billing_items(api) == before


def test_ledger_lines_newest_first_with_entry_fields(busy):
    lines = all_lines(busy.read_key)
    assert len(lines) == 7
    recorded = [line["recorded_at"] for line in lines]
    assert recorded == sorted(recorded, reverse=True)
    assert lines[0]["balance_after"] == "1965"  # the newest line's balance is the net balance
    assert sum(Decimal(x["amount"]) * (1 if x["direction"] == "credit" else -1) for x in lines) == Decimal(1965)
    e2 = [line for line in lines if line["event_id"] == "e2"]
    assert [(x["bucket"], x["amount"]) for x in e2] == [("monthly_plan", "20"), ("daily_free", "10")]
    assert e2[0]["id"] > e2[1]["id"]  # ties on recorded_at by id, newest first
    first = e2[0]
    assert first["task_id"] == "task_1" and first["execution_id"] == "exec_1" and first["pricing_version"] == 0
    assert first["reason_code"] == "usage.scrape" and first["direction"] == "debit" and first["occurred_at"]
    grants = [line for line in lines if line["reason_code"].startswith("grant.")]
    assert {g["event_id"] for g in grants} == {None} and len(grants) == 2


def test_ledger_pages_lose_and_repeat_nothing(busy):
    everything = all_lines(busy.read_key)
    for limit in (1, 2, 3, 4, 6, 7):  # 3 and 6 split e2's two lines across pages
        paged, count = pages("ledger", busy.read_key, limit)
        assert [line["id"] for line in paged] == [line["id"] for line in everything], limit
        assert count == -(-7 // limit)


LEDGER_FILTERS = [
    ({"execution_id": "exec_1"}, ["e2", "e2", "e1"]),
    ({"execution_id": "exec_2"}, ["e3"]),
    ({"task_id": "task_2"}, ["e4"]),
    ({"task_id": "task_1"}, ["e3", "e2", "e2", "e1"]),
    ({"direction": "credit"}, [None, None]),
    ({"reason_code": "usage.crawl"}, ["e4"]),
    ({"reason_code": "usage.scrape", "direction": "debit", "execution_id": "exec_1"}, ["e2", "e2", "e1"]),
    ({"direction": "credit", "task_id": "task_1"}, []),
]


def test_ledger_filters(busy):
    for query, expected in LEDGER_FILTERS:
        assert [line["event_id"] for line in all_lines(busy.read_key, **query)] == expected, query
        paged, _ = pages("ledger", busy.read_key, 1, **query)
        assert [line["event_id"] for line in paged] == expected, query


def test_ledger_time_range_is_inclusive_on_recorded_at(busy):
    lines = all_lines(busy.read_key)
    start, end = lines[4]["recorded_at"], lines[1]["recorded_at"]
    ranged = all_lines(busy.read_key, **{"from": start, "to": end})
    assert [x["id"] for x in ranged] == [x["id"] for x in lines[1:5]]
    paged, _ = pages("ledger", busy.read_key, 2, **{"from": start, "to": end})
    assert [x["id"] for x in paged] == [x["id"] for x in lines[1:5]]
    offset = all_lines(busy.read_key, **{"from": start.replace("Z", "+00:00")})
    assert [x["id"] for x in offset] == [x["id"] for x in lines[:5]]


def test_activity_feed_groups_usage_per_execution_and_day(busy):
    body = call("activity", busy.read_key).body
    kinds = [(item["type"], item.get("execution_id")) for item in body["data"]]
    assert sorted(kinds, key=str) == sorted([("refresh", None), ("refresh", None), ("usage", "exec_1"),
                                             ("usage", "exec_2"), ("usage", "exec_3")], key=str)
    exec_1 = next(item for item in body["data"] if item.get("execution_id") == "exec_1")
    assert exec_1["amount"] == "120" and exec_1["event_count"] == 2 and exec_1["direction"] == "debit"
    paged, count = pages("activity", busy.read_key, 2)
    assert [item["id"] for item in paged] == [item["id"] for item in body["data"]] and count == 3
    only = call("activity", busy.read_key, query={"execution_id": "exec_2"}).body["data"]
    assert [item["execution_id"] for item in only] == ["exec_2"]
    credits = call("activity", busy.read_key, query={"direction": "credit"}).body["data"]
    assert {item["type"] for item in credits} == {"refresh"}
    future = call("activity", busy.read_key, query={"from": (utcnow() + timedelta(hours=1)).isoformat()})
    assert future.status == 200 and future.body["data"] == []


def test_spend_summaries(busy):
    execution = call("execution_spend", busy.read_key, path={"execution_id": "exec_1"})
    assert execution.status == 200
    assert execution.body["total_debited"] == "120" and execution.body["net"] == "120"
    assert execution.body["event_count"] == 2 and execution.body["by_action_type"] == {"scrape": "120"}
    assert execution.body["by_reason_code"] == {"usage.scrape": "120"} and execution.body["first_at"]
    task = call("task_spend", busy.read_key, path={"task_id": "task_1"})
    assert task.status == 200
    assert task.body["total_debited"] == "130" and task.body["execution_count"] == 2 and task.body["event_count"] == 3


def test_unknown_execution_or_task_is_404(busy):
    for route, path in [("execution_spend", {"execution_id": "exec_missing"}), ("task_spend", {"task_id": "t_x"})]:
        reply = call(route, busy.read_key, path=path)
        assert reply.status == 404 and reply.error_code == "not_found" and reply.body["error"]["request_id"]


def test_statement_of_the_current_month_reconciles(busy):
    body = call("statement", busy.read_key, query={"month": month_of(utcnow())}).body
    assert body["month_to_date"] is True
    assert (Decimal(body["opening_balance"]) + Decimal(body["total_credits"]) - Decimal(body["total_debits"])
            == Decimal(body["closing_balance"]) == Decimal(1965))
    for bucket in body["buckets"].values():
        assert (Decimal(bucket["opening_balance"]) + Decimal(bucket["credits"]) - Decimal(bucket["debits"])
                == Decimal(bucket["closing_balance"]))
    assert body["debits_by_reason"] == {"usage.crawl": "5", "usage.scrape": "130"}
    assert body["credits_by_bucket"] == {"daily_free": "100", "monthly_plan": "2000"}


def test_a_month_without_activity_carries_the_balance_over(api):
    then = month_start(utcnow()) - timedelta(days=70)  # two or three months back
    old = make_account("acct_old", ctx=ledger.Context(now=lambda: then, sleep=lambda s: None))
    quiet = month_of(prev_month(month_start(utcnow())))  # nothing was written that month
    assert quiet > month_of(then)
    body = call("statement", old.read_key, query={"month": quiet}).body
    assert body["opening_balance"] == body["closing_balance"] == "2100"
    assert body["total_credits"] == body["total_debits"] == "0"
    assert body["buckets"]["monthly_plan"]["opening_balance"] == body["buckets"]["monthly_plan"]["closing_balance"]
    before = call("statement", old.read_key, query={"month": "2001-01"}).body
    assert before["opening_balance"] == before["closing_balance"] == "0"


def test_plans_and_current_plan(acct):
    plans = call("plans", acct.read_key).body
    assert [p["plan_id"] for p in plans["data"]] == ["free", "starter", "pro"] and plans["has_more"] is False
    assert plans["data"][2] == {"plan_id": "pro", "name": "Pro", "monthly_credits": "250000",
                                "daily_free_credits": "200", "price_cents": 19900, "currency": "USD"}
    plan = call("plan", acct.read_key).body
    assert plan["plan_id"] == "free" and plan["plan"]["monthly_credits"] == "2000" and plan["pending_plan_id"] is None


def test_ledger_stays_consistent_with_the_wallet(busy):
    assert verify.verify_account(busy.account_id) == []
