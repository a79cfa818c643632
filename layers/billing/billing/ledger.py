"""The ledger engine: applies effects to one account with a single conditional transaction.

Read the wallet, bring it up to date (expiries, period grants), apply the group's events in
memory, fold the aggregates, then commit everything in one TransactWriteItems guarded by the
wallet's version. A cancelled transaction is read through its CancellationReasons: a duplicate
entry is a redelivery (or a conflict when its content differs), a changed wallet means a
concurrent writer (reload and redo), and throttling or a TransactionConflict is retried.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing import aggregates, config, keys, refresh, store
from billing.clock import day_of, parse, stamp, utcnow
from billing.errors import (
    AccountNotFound,
    ConditionFailed,
    Conflict,
    Retryable,
    TransactionCancelled,
    ValidationFailed,
)
from billing.events import UsageEvent, differing_fields
from billing.money import ZERO, quantize
from billing.plans import DEFAULT_PLAN_ID, Plan
from billing.pricing import RuleSet, price
from billing.wallet import PROMOTIONAL, Entry, Journal, Wallet, lot_id_for

MAX_ATTEMPTS = 4
ITEM_BUDGET = store.MAX_TRANSACT_ITEMS
Clock = Callable[[], datetime]


@dataclass
class Outcome:
    event_id: str
    status: str  # applied | duplicate | conflict | rejected
    reason: str | None = None
    retryable: bool = False
    fields: list[str] = field(default_factory=list)
    amount: Decimal | None = None


@dataclass
class Context:
    """What an account write needs besides storage; tests and the engine's callers inject it."""

    now: Clock = utcnow
    rules: Callable[[], RuleSet] = config.current_rules
    plans: Callable[[], dict[str, Plan]] = config.plans
    refunds_enabled: Callable[[], bool] = config.refunds_enabled
    sleep: Callable[[float], None] = time.sleep


DEFAULT = Context()


def plan_of(wallet: Wallet, catalogue: dict[str, Plan]) -> Plan:
    return catalogue.get(wallet.plan_id) or catalogue.get(DEFAULT_PLAN_ID) or next(iter(catalogue.values()))


def bring_up_to_date(wallet: Wallet, now: datetime, catalogue: dict[str, Plan]) -> Journal:
    """Expiries and period grants due at `now`, in a fresh journal (nothing written)."""
    journal = Journal(wallet, now)
    refresh.apply_due(journal, plan_of(wallet, catalogue), now, catalogue)
    return journal


def _backoff(ctx: Context, attempt: int) -> None:
    ctx.sleep(min(0.05 * (2**attempt), 1.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter only


def _commit(account_id: str, journal: Journal, expected: int | None, opening: dict[str, Decimal],
            new_items: list[dict[str, Any]]) -> store.Commit:
    """Fold the journal's entries into the aggregates and write it all in one transaction."""
    months = sorted({e.recorded_at[:7] for e in journal.entries})
    stored = store.batch_get(aggregates.read_keys(account_id, journal.entries, months))
    folder = aggregates.Folder(account_id, opening, stored)
    for entry in journal.entries:
        folder.fold(entry)
    entry_items = [store.entry_item(account_id, e) for e in journal.entries]
    change = store.Commit(journal.wallet, expected, entry_items + new_items, folder.items())
    store.commit(change)
    return change


# -- usage events ---------------------------------------------------------------------------
def _stored_verdict(event: UsageEvent, stored: dict[str, Any]) -> Outcome:
    content = _stored_content(stored)
    if content == event.canonical_json():
        return Outcome(event.event_id, "duplicate")
    diffs = differing_fields(content, event)
    if not diffs:
        return Outcome(event.event_id, "duplicate")
    return Outcome(event.event_id, "conflict", reason="event_id reused with different content", fields=diffs)


def apply_events(account_id: str, events: list[UsageEvent], ctx: Context = DEFAULT) -> dict[str, Outcome]:
    """Apply one account's events exactly once each. Raises Retryable when storage keeps failing."""
    decided: dict[str, Outcome] = {}
    pending = list({e.event_id: e for e in reversed(events)}.values())[::-1]  # one per event_id, first kept
    attempt = 0
    rounds = 0
    while pending:
        rounds += 1
        if rounds > len(events) + MAX_ATTEMPTS + 2:  # every round decides, applies or retries something
            raise Retryable(f"account {account_id}: no progress applying {len(pending)} events")
        wallet = store.get_wallet(account_id)
        if wallet is None:
            for event in pending:
                decided[event.event_id] = Outcome(event.event_id, "rejected", reason="account_not_found")
            break
        try:
            applied = _apply_chunk(account_id, wallet, pending, decided, ctx)
        except TransactionCancelled as cancelled:
            if _judge_cancellation(cancelled, pending, decided) and attempt < MAX_ATTEMPTS:
                attempt += 1
                _backoff(ctx, attempt)
            elif attempt >= MAX_ATTEMPTS:
                raise Retryable(f"account {account_id}: transaction kept failing") from cancelled
            pending = [e for e in pending if e.event_id not in decided]
            continue
        except Retryable:
            attempt += 1
            if attempt > MAX_ATTEMPTS:
                raise
            _backoff(ctx, attempt)
            continue
        pending = [e for e in pending if e.event_id not in decided and e.event_id not in applied]
    return decided


def _judge_cancellation(cancelled: TransactionCancelled, pending: list[UsageEvent],
                        decided: dict[str, Outcome]) -> bool:
    """Record duplicates/conflicts that the cancellation revealed; True when a retry is needed."""
    by_key = {keys.entry_sk(keys.event_entry_key(e.event_id)): e for e in pending}
    for code, old in cancelled.reasons:
        if code == "ConditionalCheckFailed" and old and old.get("sk") in by_key:
            event = by_key[old["sk"]]
            decided[event.event_id] = _stored_verdict(event, old)
    return True


def _apply_chunk(account_id: str, wallet: Wallet, pending: list[UsageEvent], decided: dict[str, Outcome],
                 ctx: Context) -> set[str]:
    now = ctx.now()
    expected = wallet.version
    opening = wallet.bucket_balances()
    journal = bring_up_to_date(wallet, now, ctx.plans())
    pk = keys.account_pk(account_id)
    wanted = [(pk, keys.entry_sk(keys.event_entry_key(e.event_id))) for e in pending]
    for e in pending:
        if e.kind == "refund" and e.refund_of:
            wanted += [(pk, keys.entry_sk(keys.event_entry_key(e.refund_of))), (pk, keys.refund_mark_sk(e.refund_of))]
    stored = store.batch_get(wanted)
    rules: RuleSet | None = None
    new_items: list[dict[str, Any]] = []
    applied: dict[str, Decimal] = {}
    in_chunk: dict[str, Entry] = {}
    touched: set[tuple[str, str]] = set()
    # the wallet, each maintenance entry with up to two activity items, and up to two statement months
    budget = ITEM_BUDGET - 1 - 3 * len(journal.entries) - 2

    for event in pending:
        old = stored.get((pk, keys.entry_sk(keys.event_entry_key(event.event_id))))
        if old is not None:
            decided[event.event_id] = _stored_verdict(event, old)
            continue
        # items this event adds: its entry, new aggregates; a refund also a mark and up to two activity items
        if event.kind == "usage":
            extra = {("X", event.execution_id), ("T", event.task_id), ("V", event.execution_id)} - touched
            cost = 1 + len(extra)
        else:
            extra = {("X", event.execution_id), ("T", event.task_id)} - touched
            cost = 4 + len(extra)
        if cost > budget:
            break  # the rest goes in the next transaction
        attrs = _entry_attrs(event, account_id)
        if event.kind == "usage":
            rules = rules or ctx.rules()
            today = day_of(now)
            if wallet.preview_day != today:
                wallet.preview_day, wallet.preview_used = today, ZERO
            quote = price(rules, event, wallet.preview_used)
            wallet.preview_used = quantize(wallet.preview_used + quote.preview_free)
            entry = journal.open(keys.event_entry_key(event.event_id), "usage", occurred_at=stamp(event.occurred_at),
                                 pricing_version=quote.pricing_version, breakdown=quote.breakdown(),
                                 amount=quote.amount, **attrs)
            journal.debit(entry, quote.amount, f"usage.{event.action_type}")
        else:
            verdict = _refund_verdict(event, stored, in_chunk, pk, ctx)
            if verdict is not None:
                decided[event.event_id] = verdict
                continue
            target = in_chunk.get(event.refund_of or "") or store.entry_from_item(
                stored[(pk, keys.entry_sk(keys.event_entry_key(event.refund_of or "")))])
            already = (pk, keys.refund_mark_sk(event.refund_of or "")) in stored or any(
                m.get("sk") == keys.refund_mark_sk(event.refund_of or "") for m in new_items)
            entry = journal.open(keys.event_entry_key(event.event_id), "refund",
                                 occurred_at=stamp(event.occurred_at), pricing_version=target.attrs.get(
                                     "pricing_version"), already_refunded=already or None, **attrs)
            amount = ZERO if already else journal.refund(entry, target.lines)
            entry.attrs["amount"] = amount
            if not already:
                new_items.append({"pk": pk, "sk": keys.refund_mark_sk(event.refund_of or ""), "kind": "refund_mark",
                                  "refund_event_id": event.event_id, "amount": amount})
        in_chunk[event.event_id] = entry
        applied[event.event_id] = entry.debited()
        touched |= extra
        budget -= cost

    if not journal.entries:
        return set()
    _commit(account_id, journal, expected, opening, new_items)
    for event_id, amount in applied.items():
        decided[event_id] = Outcome(event_id, "applied", amount=amount)
    return set(applied)


def _refund_verdict(event: UsageEvent, stored: dict, in_chunk: dict[str, Entry], pk: str,
                    ctx: Context) -> Outcome | None:
    if not ctx.refunds_enabled():
        return Outcome(event.event_id, "rejected", reason="refunds_disabled")
    target_key = (pk, keys.entry_sk(keys.event_entry_key(event.refund_of or "")))
    target = in_chunk.get(event.refund_of or "")
    if target is None and target_key not in stored:
        # its usage event may still be in flight: retried by the queue, DLQ after maxReceiveCount
        return Outcome(event.event_id, "rejected", reason="refund_target_missing", retryable=True)
    kind = target.kind if target else stored[target_key].get("entry_kind")
    if kind != "usage":
        return Outcome(event.event_id, "rejected", reason="refund_of does not name a usage event")
    return None


# Fields of the canonical event that the entry item holds as attributes of its own (field -> attribute).
# `content` leaves out each one whose attribute gives back exactly its value, and so does occurred_at
# when the entry's UTC stamp gives back its text; _stored_content puts them back. That is about 200
# bytes an entry, which keeps a typical usage entry under 1 KB (one write unit, not two, per copy).
SHARED_FIELDS = {"event_id": "event_id", "account_id": "account_id", "kind": "entry_kind", "task_id": "task_id",
                 "execution_id": "execution_id", "action_type": "action_type", "refund_of": "refund_of"}


def _entry_attrs(event: UsageEvent, account_id: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "event_id": event.event_id, "task_id": event.task_id, "execution_id": event.execution_id,
        "action_type": event.action_type,
    }
    if event.refund_of:
        attrs["refund_of"] = event.refund_of
    # what the item will hold besides attrs: the account, the entry kind (the event's kind), the stamp
    on_item = {**attrs, "account_id": account_id, "entry_kind": event.kind}
    content = event.canonical()
    for name, attribute in SHARED_FIELDS.items():
        if name in content and on_item.get(attribute) == content[name]:
            del content[name]
    if parse(stamp(event.occurred_at)).isoformat() == content["occurred_at"]:
        del content["occurred_at"]
    attrs["content"] = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return attrs


def _stored_content(stored: dict[str, Any]) -> str:
    """The canonical JSON of the event an entry item recorded: `content` plus the fields held as attributes."""
    content = json.loads(stored.get("content") or "{}")
    if not content:
        return "{}"
    for name, attribute in SHARED_FIELDS.items():
        if name not in content and attribute in stored:
            content[name] = stored[attribute]
    if "occurred_at" not in content and stored.get("occurred_at"):
        content["occurred_at"] = parse(stored["occurred_at"]).isoformat()
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


# -- other account writes -----------------------------------------------------------------
def write_account(account_id: str, build: Callable[[Journal, Wallet], list[dict[str, Any]]],
                  ctx: Context = DEFAULT) -> Wallet:
    """Generic optimistic write: bring the wallet up to date, let `build` add entries, commit; retry races."""
    for attempt in range(MAX_ATTEMPTS + 1):
        wallet = store.get_wallet(account_id)
        if wallet is None:
            raise AccountNotFound(f"account {account_id} does not exist", account_id=account_id)
        expected, opening, snapshot = wallet.version, wallet.bucket_balances(), wallet.to_dict()
        journal = bring_up_to_date(wallet, ctx.now(), ctx.plans())
        new_items = build(journal, wallet)
        if not journal.entries and not new_items and wallet.to_dict() == snapshot:
            return wallet  # nothing to write
        try:
            _commit(account_id, journal, expected, opening, new_items)
            return wallet
        except (TransactionCancelled, Retryable):
            if attempt == MAX_ATTEMPTS:
                raise
            _backoff(ctx, attempt)
    raise Retryable(f"account {account_id}: write kept failing")


def create_account(account_id: str, plan_id: str = DEFAULT_PLAN_ID, ctx: Context = DEFAULT) -> tuple[Wallet, bool]:
    """Create an account with its first period grants. Returns (wallet, created)."""
    catalogue = ctx.plans()
    if plan_id not in catalogue:
        raise ValidationFailed(f"unknown plan {plan_id!r}", plan_id=plan_id)
    existing = store.get_wallet(account_id)
    if existing is not None:
        return existing, False
    now = ctx.now()
    wallet = Wallet(account_id=account_id, created_at=stamp(now), plan_id=plan_id, plan_since=stamp(now))
    opening = wallet.bucket_balances()
    journal = bring_up_to_date(wallet, now, catalogue)
    try:
        _commit(account_id, journal, None, opening, [])
    except TransactionCancelled as cancelled:
        if cancelled.reasons and cancelled.reasons[0][0] == "ConditionalCheckFailed":
            return store.get_wallet(account_id) or wallet, False
        raise
    return wallet, True


def grant_promotional(account_id: str, amount: Decimal, idempotency_key: str, expires_at: datetime | None = None,
                      ctx: Context = DEFAULT) -> tuple[str, bool]:
    """A promotional grant, idempotent forever on its key. Returns (lot_id, created)."""
    amount = quantize(amount)
    if amount <= 0:
        raise ValidationFailed("amount must be greater than 0")
    if expires_at is not None and expires_at <= ctx.now():
        raise ValidationFailed("expires_at must be in the future")
    key = f"promo:{idempotency_key}"
    lot_id = lot_id_for(account_id, key)
    pk = keys.account_pk(account_id)
    wanted = {"amount": str(amount), "expires_at": stamp(expires_at) if expires_at else None}
    created = False

    def build(journal: Journal, wallet: Wallet) -> list[dict[str, Any]]:
        nonlocal created
        old = store.get_item(pk, keys.entry_sk(key))
        if old is not None:
            if old.get("request") != json.dumps(wanted, sort_keys=True):
                raise Conflict("idempotency key already used for a different grant", idempotency_key=idempotency_key)
            created = False
            return []
        entry = journal.open(key, "grant", idempotency_key=idempotency_key, bucket=PROMOTIONAL,
                             expires_at=wanted["expires_at"], request=json.dumps(wanted, sort_keys=True))
        journal.grant(entry, PROMOTIONAL, amount, wanted["expires_at"], lot_id=lot_id)
        created = True
        return []

    try:
        write_account(account_id, build, ctx)
    except ConditionFailed as exc:  # pragma: no cover - put conditions are inside the transaction
        raise Retryable(str(exc)) from exc
    return lot_id, created


def refresh_account(account_id: str, ctx: Context = DEFAULT) -> int:
    """Persist the due expiries and period grants of one account; returns how many entries it wrote."""
    written = 0

    def build(journal: Journal, wallet: Wallet) -> list[dict[str, Any]]:
        nonlocal written
        written = len(journal.entries)
        return []

    write_account(account_id, build, ctx)
    return written


def as_of(wallet: Wallet, at: datetime | None = None, ctx: Context = DEFAULT) -> Wallet:
    """The wallet as it is at `at` (default now): due expiries and grants applied in memory, not written."""
    bring_up_to_date(wallet, at or ctx.now(), ctx.plans())
    return wallet


__all__ = ["apply_events", "create_account", "grant_promotional", "refresh_account", "as_of", "Outcome", "Context"]
