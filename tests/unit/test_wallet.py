"""Burn-down, overage, grants and refunds on a wallet, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.wallet import DAILY_FREE, MONTHLY_PLAN, OVERAGE, PROMOTIONAL, Journal, Lot, Wallet

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
D = Decimal


def wallet(*lots: Lot) -> Wallet:
    return Wallet(account_id="a", created_at="2026-12-01T00:00:00.000000Z", plan_id="free",
                  lots={lot.lot_id: lot for lot in lots})


def lot(lot_id: str, bucket: str, amount: str, expires: str | None, granted: str = "2026-12-01T00:00:00.000000Z"):
    return Lot(lot_id, bucket, D(amount), D(amount), granted, expires, "test")


def test_debit_burns_soonest_expiring_first_with_bucket_tie_order():
    w = wallet(
        lot("plan", MONTHLY_PLAN, "100", "2027-01-01T00:00:00.000000Z"),
        lot("promo", PROMOTIONAL, "5", "2027-01-01T00:00:00.000000Z"),
        lot("daily", DAILY_FREE, "10", "2026-12-05T00:00:00.000000Z"),
        lot("forever", PROMOTIONAL, "50", None),
    )
    j = Journal(w, NOW)
    entry = j.open("evt:e1", "usage")
    j.debit(entry, D("20"), "usage.scrape")

    assert [(ln.lot_id, ln.amount) for ln in entry.lines] == [("daily", D(10)), ("promo", D(5)), ("plan", D(5))]
    assert [ln.balance_after for ln in entry.lines] == [D(155), D(150), D(145)]
    assert w.net() == D(145)


def test_what_no_lot_covers_becomes_overage_and_the_next_grant_settles_it():
    w = wallet(lot("daily", DAILY_FREE, "3", "2026-12-05T00:00:00.000000Z"))
    j = Journal(w, NOW)
    j.debit(j.open("evt:e1", "usage"), D("10"), "usage.crawl")
    assert w.overage == D(7) and w.net() == D(-7)

    grant = j.open("promo:k", "grant")
    j.grant(grant, PROMOTIONAL, D(20), None)
    assert [(ln.direction, ln.amount, ln.reason_code, ln.bucket) for ln in grant.lines] == [
        ("credit", D(20), "grant.promotional", PROMOTIONAL),
        ("debit", D(7), "overage.settled", PROMOTIONAL),
        ("credit", D(7), "overage.settled", OVERAGE),
    ]
    assert w.overage == 0 and w.net() == D(13) and grant.lines[-1].balance_after == D(13)


def test_refund_returns_to_the_lots_it_came_from_and_expired_lots_expire_again():
    w = wallet(lot("daily", DAILY_FREE, "4", "2026-12-05T00:00:00.000000Z"),
               lot("plan", MONTHLY_PLAN, "100", "2027-01-01T00:00:00.000000Z"))
    j = Journal(w, NOW)
    usage = j.open("evt:e1", "usage")
    j.debit(usage, D(10), "usage.scrape")
    j.expire_due(datetime(2026, 12, 5, tzinfo=UTC))  # the daily lot is already empty: nothing to expire
    assert "daily" not in w.lots

    refund = j.open("evt:r1", "refund")
    total = j.refund(refund, usage.lines)

    assert total == D(10)
    assert [(ln.direction, ln.amount, ln.reason_code, ln.lot_id) for ln in refund.lines] == [
        ("credit", D(4), "refund", "daily"), ("debit", D(4), "expiry", "daily"),
        ("credit", D(6), "refund", "plan"),
    ]
    assert w.lots["plan"].remaining == D(100) and w.net() == D(100)


def test_expiry_is_a_line_at_the_exact_expiry_time():
    w = wallet(lot("daily", DAILY_FREE, "7.5", "2026-12-05T00:00:00.000000Z"))
    j = Journal(w, datetime(2026, 12, 6, tzinfo=UTC))
    j.expire_due(datetime(2026, 12, 6, tzinfo=UTC))
    (entry,) = j.entries
    assert entry.key == "exp:daily" and entry.recorded_at == "2026-12-05T00:00:00.000000Z"
    assert [(ln.direction, ln.amount, ln.reason_code) for ln in entry.lines] == [("debit", D("7.5"), "expiry")]
    assert w.net() == 0
