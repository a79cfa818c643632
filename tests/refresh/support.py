"""Helpers of the refresh tests: frozen ledger clocks, account creation, reading entries back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing import keys, ledger, store, verify
from billing.plans import DEFAULT_PLANS


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ctx_at(moment: datetime) -> ledger.Context:
    """A ledger context whose clock stands still at `moment` (and plans from the shipped catalogue)."""
    catalogue = {p.plan_id: p for p in DEFAULT_PLANS}
    return ledger.Context(now=lambda: moment, plans=lambda: catalogue, sleep=lambda _s: None)


def create(account_id: str, when: str, plan_id: str = "free") -> str:
    ledger.create_account(account_id, plan_id, ctx=ctx_at(at(when)))
    return account_id


def entries(account_id: str) -> list[dict[str, Any]]:
    """The account's ledger entries in recorded_at order."""
    items = verify.account_items(account_id)
    return sorted((i for i in items if i["sk"].startswith(keys.ENTRY)), key=lambda i: i["gt_sk"])


def entry_keys(account_id: str, prefix: str = "") -> list[str]:
    return [e["sk"][len(keys.ENTRY):] for e in entries(account_id) if e["sk"][len(keys.ENTRY):].startswith(prefix)]


def expiries(account_id: str) -> list[tuple[str, str, str, Decimal]]:
    """(bucket, occurred_at, recorded_at, amount) of every expiry line."""
    return [(ln["bucket"], e["occurred_at"], e["recorded_at"], ln["amount"]) for e in entries(account_id)
            for ln in e["lines"] if ln["reason_code"] == "expiry"]


def net(account_id: str) -> Decimal:
    return store.get_wallet(account_id).net()


def debit(account_id: str, amount: str, when: str) -> None:
    """Spend `amount` at `when` through the ledger engine (an adjustment entry, lots burnt as usage would)."""
    def build(journal, wallet) -> list:
        entry = journal.open(f"adj:{when}:{amount}", "adjustment")
        journal.debit(entry, Decimal(amount), "adjustment")
        return []

    ledger.write_account(account_id, build, ctx_at(at(when)))
