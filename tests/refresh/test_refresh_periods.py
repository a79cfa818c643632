"""Period grants, expiry and rollover as the scheduled job and the lazy refresh produce them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing import ledger, refresh, scheduler, store
from billing.plans import DEFAULT_PLANS
from tests.refresh.support import at, create, ctx_at, debit, entries, entry_keys, expiries, net

PLANS = {p.plan_id: p for p in DEFAULT_PLANS}


def run(when: str) -> dict:
    moment = at(when)
    return scheduler.run_all(moment, base=ctx_at(moment), clock=lambda: moment)


def test_running_twice_for_the_same_period_grants_it_once(billing):
    create("acct_1", "2026-11-30T10:00:00Z")

    first = run("2026-12-01T00:00:00Z")
    second = run("2026-12-01T00:00:00Z")
    third = run("2026-12-01T07:30:00Z")  # a late retry of the same day's schedule

    assert entry_keys("acct_1", "grant:") == [
        "grant:daily_free:2026-11-30", "grant:monthly_plan:2026-11",
        "grant:daily_free:2026-12-01", "grant:monthly_plan:2026-12",
    ]
    assert first["entries_written"] == 4  # two expiries at Dec 1 00:00, then the two grants
    assert (second["entries_written"], third["entries_written"]) == (0, 0)
    assert first | {"entries_written": 0} == second | {"scheduled_time": first["scheduled_time"]}
    assert (first["period_day"], first["period_month"]) == ("2026-12-01", "2026-12")
    assert net("acct_1") == Decimal("2100")


def test_a_job_late_by_three_days_grants_each_missed_day_once_at_its_own_time(billing):
    create("acct_1", "2026-12-04T10:00:00Z")

    run("2026-12-07T00:00:00Z")
    run("2026-12-07T00:00:00Z")

    daily = [e for e in entries("acct_1") if e["sk"].startswith("E#grant:daily_free:")]
    assert [(e["period"], e["recorded_at"]) for e in daily] == [
        ("2026-12-04", "2026-12-04T10:00:00.000000Z"),  # at creation
        ("2026-12-05", "2026-12-05T00:00:00.000001Z"),  # after the expiry of the 4th's lot at 00:00
        ("2026-12-06", "2026-12-06T00:00:00.000001Z"),
        ("2026-12-07", "2026-12-07T00:00:00.000001Z"),
    ]
    assert [(b, o, r) for b, o, r, _ in expiries("acct_1")] == [
        ("daily_free", f"2026-12-0{d}T00:00:00.000000Z", f"2026-12-0{d}T00:00:00.000000Z") for d in (5, 6, 7)
    ]
    assert net("acct_1") == Decimal("2100")


def test_catch_up_looks_back_catchup_days_and_no_further(billing):
    create("acct_1", "2026-12-01T10:00:00Z")

    run("2026-12-20T00:00:00Z")

    days = [k.rsplit(":", 1)[1] for k in entry_keys("acct_1", "grant:daily_free:")]
    assert days == ["2026-12-01"] + [f"2026-12-{d}" for d in range(21 - refresh.CATCHUP_DAYS, 21)]


def test_expiry_lines_sit_at_the_exact_times_across_a_month_end_and_a_leap_day(billing):
    create("acct_1", "2028-01-31T09:00:00Z")

    for when in ("2028-02-01T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z"):
        run(when)

    all_expiries = expiries("acct_1")
    at_edges = [(b, o, r) for b, o, r, _ in all_expiries if o[:10] in ("2028-02-01", "2028-02-29", "2028-03-01")]
    assert at_edges == [
        ("daily_free", "2028-02-01T00:00:00.000000Z", "2028-02-01T00:00:00.000000Z"),  # Jan 31's lot
        ("monthly_plan", "2028-02-01T00:00:00.000000Z", "2028-02-01T00:00:00.000001Z"),  # January's credits
        ("daily_free", "2028-02-29T00:00:00.000000Z", "2028-02-29T00:00:00.000000Z"),  # Feb 28's lot
        ("daily_free", "2028-03-01T00:00:00.000000Z", "2028-03-01T00:00:00.000000Z"),  # the leap day's lot
        ("monthly_plan", "2028-03-01T00:00:00.000000Z", "2028-03-01T00:00:00.000001Z"),  # February's credits
    ]
    # every other expiry (the catch-up's daily lots) also sits at its lot's exact end
    assert all(o.endswith("T00:00:00.000000Z") and r == o for b, o, r, _ in all_expiries if b == "daily_free")
    leap = next(e for e in entries("acct_1") if e["sk"] == "E#grant:daily_free:2028-02-29")
    assert leap["expires_at"] == "2028-03-01T00:00:00.000000Z"
    march = next(e for e in entries("acct_1") if e["sk"] == "E#grant:monthly_plan:2028-03")
    assert march["expires_at"] == "2028-04-01T00:00:00.000000Z"
    assert net("acct_1") == Decimal("2100")


def test_a_month_start_orders_expiry_then_grants(billing):
    create("acct_1", "2026-11-30T10:00:00Z")

    run("2026-12-01T00:00:00Z")

    december = [(e["sk"], e["recorded_at"]) for e in entries("acct_1") if e["recorded_at"] >= "2026-12"]
    assert [sk.split(":")[0] for sk, _ in december] == ["E#exp", "E#exp", "E#grant", "E#grant"]
    assert [sk for sk, _ in december][2:] == ["E#grant:daily_free:2026-12-01", "E#grant:monthly_plan:2026-12"]


@pytest.mark.parametrize(("plan_id", "spent", "carried"), [
    ("starter", "0", "10000"),  # 50,000 left, capped at max_rollover
    ("starter", "45100", "5000"),  # the day's 100 burns first; 5,000 monthly left, under the cap
    ("pro", "0", "50000"),  # 250,000 left, capped
    ("pro", "250200", "1000"),  # nothing left: min_rollover
    ("pro", "230200", "20000"),
    ("free", "0", None),  # no rollover: the month's credits expire in full
])
def test_rollover_carries_what_is_left_within_the_plan_caps(billing, plan_id, spent, carried):
    create("acct_1", "2026-11-10T10:00:00Z", plan_id)
    if spent != "0":
        debit("acct_1", spent, "2026-11-20T10:00:00Z")

    run("2026-12-01T00:00:00Z")

    rolled = [e for e in entries("acct_1") if e["sk"] == "E#grant:rollover:2026-12"]
    if carried is None:
        assert rolled == []
        return
    (entry,) = rolled
    assert entry["lines"][0]["amount"] == Decimal(carried)
    daily = PLANS[plan_id].daily_free_credits if spent != "0" else 0
    assert entry["rollover_from"] == PLANS[plan_id].monthly_credits - Decimal(spent) + daily
    assert entry["expires_at"] == "2027-01-01T00:00:00.000000Z"
    wallet = store.get_wallet("acct_1")
    assert wallet.available("monthly_plan") == PLANS[plan_id].monthly_credits + Decimal(carried)


def test_rollover_amount_follows_the_formula():
    starter, pro, free = PLANS["starter"], PLANS["pro"], PLANS["free"]
    assert refresh.rollover_amount(starter, Decimal("12.5")) == Decimal("12.5")
    assert refresh.rollover_amount(starter, Decimal("99999")) == Decimal("10000")
    assert refresh.rollover_amount(pro, Decimal("0")) == Decimal("1000")
    assert refresh.rollover_amount(free, Decimal("500")) == Decimal("0")


def test_a_new_account_gets_no_rollover_in_its_first_month(billing):
    create("acct_1", "2026-12-04T10:00:00Z", "pro")

    assert entry_keys("acct_1", "grant:rollover") == []
    assert net("acct_1") == Decimal("250200")


def test_a_grant_pays_overage_off_first(billing):
    create("acct_1", "2026-11-30T10:00:00Z")
    debit("acct_1", "2150", "2026-11-30T12:00:00Z")  # 50 more than the 2,100 granted

    run("2026-12-01T00:00:00Z")

    daily = next(e for e in entries("acct_1") if e["sk"] == "E#grant:daily_free:2026-12-01")
    assert [(ln["direction"], ln["bucket"], ln["reason_code"], ln["amount"]) for ln in daily["lines"]] == [
        ("credit", "daily_free", "grant.daily_free", Decimal("100")),
        ("debit", "daily_free", "overage.settled", Decimal("50")),
        ("credit", "overage", "overage.settled", Decimal("50")),
    ]
    assert net("acct_1") == Decimal("2050")


def test_a_pending_downgrade_takes_effect_at_the_month_start_before_its_grants(billing):
    create("acct_1", "2026-11-10T10:00:00Z", "pro")

    def choose_free(journal, wallet) -> list:
        wallet.pending_plan_id = "free"
        return []

    ledger.write_account("acct_1", choose_free, ctx_at(at("2026-11-20T10:00:00Z")))
    run("2026-12-01T00:00:00Z")

    wallet = store.get_wallet("acct_1")
    assert (wallet.plan_id, wallet.pending_plan_id, wallet.plan_since) == ("free", None, "2026-12-01T00:00:00.000000Z")
    change = next(e for e in entries("acct_1") if e["entry_kind"] == "plan_change")
    assert (change["plan_id"], change["previous_plan_id"], change["lines"]) == ("free", "pro", [])
    december = [e["sk"] for e in entries("acct_1") if e["recorded_at"] >= "2026-12"]
    assert december.index(change["sk"]) < december.index("E#grant:monthly_plan:2026-12")
    monthly = next(e for e in entries("acct_1") if e["sk"] == "E#grant:monthly_plan:2026-12")
    assert (monthly["plan_id"], monthly["lines"][0]["amount"]) == ("free", Decimal("2000"))


def _state(account_id: str, wallet) -> tuple:
    lots = sorted((lot.bucket, lot.granted, lot.remaining, lot.granted_at, lot.expires_at)
                  for lot in wallet.lots.values())
    return wallet.net(), wallet.bucket_balances(), lots, dict(wallet.periods), wallet.last_recorded_at


def test_lazy_refresh_on_read_equals_what_the_scheduled_run_writes(billing):
    for account_id in ("acct_lazy", "acct_job"):
        create(account_id, "2026-11-28T10:00:00Z", "starter")
        debit(account_id, "30000", "2026-11-29T10:00:00Z")
    moment = at("2026-12-03T00:00:00Z")

    projected = ledger.as_of(store.get_wallet("acct_lazy"), moment, ctx_at(moment))
    untouched = store.get_wallet("acct_lazy")
    run("2026-12-01T00:00:00Z")  # every account, the lazy one too: then they must be equal again
    run("2026-12-02T00:00:00Z")
    run("2026-12-03T00:00:00Z")

    assert untouched.version == 2  # the read wrote nothing
    assert _state("acct_lazy", projected) == _state("acct_job", store.get_wallet("acct_job"))
    assert _state("acct_lazy", store.get_wallet("acct_lazy")) == _state("acct_job", store.get_wallet("acct_job"))
    lazy_keys = [k for k in entry_keys("acct_lazy") if not k.startswith("exp:")]
    job_keys = [k for k in entry_keys("acct_job") if not k.startswith("exp:")]
    assert lazy_keys == job_keys


def test_a_lazy_refresh_in_one_step_equals_three_scheduled_runs(billing):
    for account_id in ("acct_lazy", "acct_job"):
        create(account_id, "2026-11-28T10:00:00Z", "starter")
    moment = at("2026-12-03T00:00:00Z")

    ledger.refresh_account("acct_lazy", ctx_at(moment))  # what a debit or a write at that time does first
    for when in ("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"):
        scheduler.refresh_accounts(["acct_job"], at(when), ctx_at(at(when)))

    assert _state("acct_lazy", store.get_wallet("acct_lazy")) == _state("acct_job", store.get_wallet("acct_job"))
    lazy = [(e["entry_kind"], e["occurred_at"], e["recorded_at"], [ln["amount"] for ln in e["lines"]])
            for e in entries("acct_lazy")]
    job = [(e["entry_kind"], e["occurred_at"], e["recorded_at"], [ln["amount"] for ln in e["lines"]])
           for e in entries("acct_job")]
    assert lazy == job
