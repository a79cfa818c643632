"""Model-based: the real engine (consumer, ledger, refresh job, plan change, reads) against a pure model.

After every step the stored wallet, every lot and every ledger line equal the model's; verify finds
nothing; no stored entry ever changes once written; each event has at most one effect.
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billing import consumer, ledger, plan_change, scheduler, store, verify
from billing.clock import stamp
from billing.errors import Conflict
from billing.plans import Plan, Rollover
from billing.pricing import RuleSet
from billing.wallet import Wallet
from billing_local.motofast import fast_transactions
from tests.adversarial.model import ModelPlan, ModelRate, WalletModel, q
from tests.adversarial.support import fresh_tables, stored_items, verify_reads_backend
from tests.helpers import refund, sqs_event, usage

ACCOUNT = "acct_model"
START = datetime(2026, 1, 30, 21, 0, tzinfo=UTC)  # two days before a month start
OCCURRED = "2026-11-01T08:00:00Z"  # informational only; the clock of the ledger is the injected one
ACTIONS = ("scrape", "crawl", "search", "api_call")
EXECUTIONS = ("x0", "x1", "x2")

RULES = RuleSet.model_validate({"version": 7, "preview_daily_quota": "3", "rules": [
    {"id": "scrape-retry", "match": {"action_type": "scrape", "attempt_min": 2}, "unit": "url", "rate": "0.25"},
    {"id": "scrape", "match": {"action_type": "scrape"}, "unit": "url", "rate": "0.75"},
    {"id": "crawl", "match": {"action_type": "crawl"}, "unit": "url", "rate": "0.333333"},
    {"id": "search", "match": {"action_type": "search"}, "unit": "call", "rate": "2.5"},
    {"id": "api_call", "match": {"action_type": "api_call"}, "unit": "call", "rate": "0.1"},
]})
MODEL_RATES = {
    "scrape": ModelRate("url", Decimal("0.75"), Decimal("0.25")),
    "crawl": ModelRate("url", Decimal("0.333333"), Decimal("0.333333")),
    "search": ModelRate("call", Decimal("2.5"), Decimal("2.5")),
    "api_call": ModelRate("call", Decimal("0.1"), Decimal("0.1")),
}
PLANS = {
    "free": Plan(plan_id="free", name="Free", monthly_credits=Decimal(40), daily_free_credits=Decimal(5),
                 price_cents=0),
    "plus": Plan(plan_id="plus", name="Plus", monthly_credits=Decimal(90), daily_free_credits=Decimal(8),
                 price_cents=900, rollover=Rollover(enabled=True, min_rollover=Decimal(2), max_rollover=Decimal(30))),
    "mini": Plan(plan_id="mini", name="Mini", monthly_credits=Decimal(15), daily_free_credits=Decimal("2.5"),
                 price_cents=100),
}
MODEL_PLANS = {
    "free": ModelPlan("free", Decimal(40), Decimal(5)),
    "plus": ModelPlan("plus", Decimal(90), Decimal(8), (Decimal(2), Decimal(30))),
    "mini": ModelPlan("mini", Decimal(15), Decimal("2.5")),
}
# CI: 200 examples x 30 steps (about 0.6 s each on moto); `make soak` runs 2,000.
CI_EXAMPLES = 200
SOAK_EXAMPLES = 2000
# ADV_NO_SHRINK=1 while iterating: a failure is reported as found, without minutes of shrinking
PHASES = [p for p in Phase if p is not Phase.shrink] if os.environ.get("ADV_NO_SHRINK") else list(Phase)
PLAN_RECORD = re.compile(r"^plan:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z:(.+)$")

advance = st.one_of(
    st.builds(timedelta, minutes=st.integers(1, 300)),
    st.builds(timedelta, hours=st.integers(1, 60)),
    st.builds(timedelta, days=st.integers(1, 45)),
)
amounts = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(60), places=6)


class WalletMachine(RuleBasedStateMachine):
    aws: Any = None
    template: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._tables = fresh_tables(self.aws, self.template)
        self._tables.__enter__()
        self.now = START
        self.ctx = ledger.Context(now=lambda: self.now, rules=lambda: RULES, plans=lambda: PLANS,
                                  refunds_enabled=lambda: True, sleep=lambda _: None)
        self.model: WalletModel | None = None
        self.sent: list[dict[str, Any]] = []  # records of usage/refund events applied once (redelivered later)
        self.usage_ids: list[str] = []
        self.refund_ids: list[str] = []
        self.dlq: list[tuple[dict, consumer.Verdict]] = []
        self.written: dict[str, dict[str, Any]] = {}  # sk -> the entry item as first seen
        self.promo: dict[str, tuple[Decimal, datetime | None]] = {}
        self.refreshed_at: datetime | None = None
        self.n = 0

    def teardown(self) -> None:
        self._tables.__exit__(None, None, None)

    # -- helpers ------------------------------------------------------------------------
    def _deliver(self, records: list[dict[str, Any]]) -> dict[str, consumer.Verdict]:
        return consumer.judge_batch(records, self.ctx, send_to_dlq=lambda r, v: self.dlq.append((r, v)))

    def _new_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    # -- rules ------------------------------------------------------------------------
    @initialize(plan=st.sampled_from(sorted(PLANS)), offset=st.integers(0, 3 * 24 * 60))
    def create(self, plan: str, offset: int) -> None:
        self.now = START + timedelta(minutes=offset)
        _, created = ledger.create_account(ACCOUNT, plan, ctx=self.ctx)
        assert created
        self.model = WalletModel(ACCOUNT, self.now, plan, MODEL_PLANS, MODEL_RATES, RULES.preview_daily_quota)
        self.model.bring_up_to_date(self.now)

    @rule(action=st.sampled_from(ACTIONS), urls=st.integers(0, 60), attempt=st.integers(1, 2), preview=st.booleans(),
          execution=st.integers(0, 2), copies=st.integers(1, 3))
    def usage_event(self, action, urls, attempt, preview, execution, copies) -> None:
        event_id = self._new_id("u")
        body = usage(event_id, ACCOUNT, action_type=action, urls=urls, attempt=attempt, preview=preview,
                     execution_id=EXECUTIONS[execution], task_id=f"t{execution % 2}", occurred_at=OCCURRED)
        event = sqs_event([body] * copies)  # in-batch copies of one event: one effect
        verdicts = self._deliver(event["Records"])
        self.model.bring_up_to_date(self.now)
        expected = self.model.usage(event_id, action, urls, attempt, preview, self.now)
        first = event["Records"][0]
        assert verdicts[first["messageId"]].status == "applied"
        assert verdicts[first["messageId"]].amount == expected
        assert [verdicts[r["messageId"]].status for r in event["Records"][1:]] == ["duplicate"] * (copies - 1)
        self.sent.append(first)
        self.usage_ids.append(event_id)

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), same_message=st.booleans())
    def redeliver(self, data, same_message) -> None:
        record = data.draw(st.sampled_from(self.sent))
        if same_message:  # SQS again, after a lost acknowledgement: same messageId, one more receive
            record = copy.deepcopy(record)
            record["attributes"]["ApproximateReceiveCount"] = str(int(record["attributes"]["ApproximateReceiveCount"])
                                                                  + 1)
        else:  # the producer sent the same occurrence again, or a DLQ redrive days later
            record = sqs_event([json.loads(record["body"])], receive_count=2)["Records"][0]
        verdicts = self._deliver([record])
        self.model.bring_up_to_date(self.now)
        assert verdicts[record["messageId"]].status == "duplicate"

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), change=st.sampled_from(["urls", "phase", "attempt", "execution_id", "occurred_at"]))
    def conflicting_duplicate(self, data, change) -> None:
        body = json.loads(data.draw(st.sampled_from(self.sent))["body"])
        body[change] = {"urls": body["urls"] + 1, "phase": "render", "attempt": body["attempt"] + 5,
                        "execution_id": "x-other", "occurred_at": "2026-11-01T08:00:01Z"}[change]
        before = len(self.dlq)
        record = sqs_event([body])["Records"][0]
        verdict = self._deliver([record])[record["messageId"]]
        self.model.bring_up_to_date(self.now)
        assert verdict.status == "quarantined" and verdict.reason.startswith("event_conflict")
        assert verdict.fields == [change]
        assert len(self.dlq) == before + 1

    @rule(data=st.data(), of=st.sampled_from(["usage", "unknown", "refund"]))
    def refund_event(self, data, of) -> None:
        target = of
        pool = {"usage": self.usage_ids, "refund": self.refund_ids}.get(target) or []
        refund_of = data.draw(st.sampled_from(pool)) if pool else f"ghost{self.n}"
        if not pool:
            target = "unknown"
        event_id = self._new_id("r")
        body = refund(event_id, refund_of, ACCOUNT, occurred_at=OCCURRED,
                      execution_id=EXECUTIONS[int(refund_of[1:]) % 3] if target == "usage" else "x0")
        record = sqs_event([body])["Records"][0]
        verdict = self._deliver([record])[record["messageId"]]
        self.model.bring_up_to_date(self.now)
        if target == "usage":
            assert verdict.status == "applied", verdict
            self.model.refund(event_id, refund_of)
            self.sent.append(record)
            self.refund_ids.append(event_id)
        elif target == "unknown":  # its usage event may still be in flight: retried, never written
            assert verdict.status == "retry" and verdict.reason == "refund_target_missing"
        else:
            assert verdict.status == "quarantined"

    @rule(key=st.integers(0, 3), amount=amounts, expires_in=st.one_of(st.none(), st.integers(1, 24 * 20)))
    def promotional_grant(self, key, amount, expires_in) -> None:
        expires = self.now + timedelta(hours=expires_in) if expires_in else None
        wanted = (q(amount), expires)
        try:
            lot_id, created = ledger.grant_promotional(ACCOUNT, amount, f"k{key}", expires, ctx=self.ctx)
        except Conflict:
            assert self.promo[f"k{key}"] != wanted  # the key was used for another grant: refused, nothing written
            return
        self.model.bring_up_to_date(self.now)
        if f"k{key}" in self.promo:
            assert not created and self.promo[f"k{key}"] == wanted
        else:
            assert created
            self.promo[f"k{key}"] = wanted
            self.model.promotional(f"k{key}", amount, expires)

    @rule(delta=advance)
    def time_passes(self, delta) -> None:
        self.now += delta

    @rule(extra=st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(seconds=1)]))
    def to_next_midnight(self, extra) -> None:
        self.now = self.now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) + extra

    @rule(late=st.one_of(st.just(timedelta(0)), st.builds(timedelta, minutes=st.integers(1, 3 * 24 * 60))),
          repeat=st.booleans())
    def scheduled_refresh(self, late, repeat) -> None:
        """The daily job for a scheduled time at or before now (late), possibly the same time again."""
        at = self.refreshed_at if repeat and self.refreshed_at else max(self.now - late, self.model.created)
        at = min(at, self.now)
        self.refreshed_at = at
        result = scheduler.refresh_accounts([ACCOUNT], at, base=self.ctx)
        assert result.failed == {} and result.missing == []
        self.model.bring_up_to_date(at)

    @rule(plan=st.sampled_from(sorted(PLANS)))
    def plan_change(self, plan) -> None:
        selection = plan_change.select(ACCOUNT, plan, ctx=self.ctx)
        self.model.bring_up_to_date(self.now)
        assert selection.change == self.model.select_plan(plan, self.now)

    @rule(ahead=st.sampled_from([timedelta(0), timedelta(hours=30), timedelta(days=40)]))
    def read(self, ahead) -> None:
        """A read projects expiries and grants without writing; the model's projection agrees."""
        at = self.now + ahead
        seen = ledger.as_of(store.get_wallet(ACCOUNT), at, ctx=self.ctx)
        expected = self.model.projected(at)
        assert _buckets(seen) == expected.buckets()
        assert _lots(seen, at) == _model_lots(expected, at)

    # -- invariants after every step -------------------------------------------------
    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.model is None:
            return
        items = stored_items(ACCOUNT)
        wallet = Wallet.from_dict(next(i for i in items if i["sk"] == "W"))
        assert _buckets(wallet) == self.model.buckets()
        assert wallet.net() == self.model.net()
        assert _lots(wallet, self.now) == _model_lots(self.model, self.now)
        assert wallet.plan_id == self.model.plan_id and wallet.pending_plan_id == self.model.pending
        entries = sorted((i for i in items if i["sk"].startswith("E#")), key=lambda i: i["gt_sk"])
        assert _system_entries(entries) == [(e.key, e.kind, e.lines) for e in self.model.entries]
        # written once, never changed
        for item in entries:
            first = self.written.setdefault(item["sk"], item)
            assert first == item, f"{item['sk']} changed after it was written"
        assert len(entries) == len(self.written)
        # each event at most one effect; each usage refunded at most once
        events = [i["event_id"] for i in entries if i.get("event_id")]
        assert len(events) == len(set(events))
        marks = [i for i in items if i["sk"].startswith("R#")]
        assert sorted(i["sk"][2:] for i in marks) == sorted(self.model.refunded)
        with verify_reads_backend():
            assert verify.verify_account(ACCOUNT) == []


def _buckets(wallet: Wallet) -> dict[str, Decimal]:
    return {k: q(v) for k, v in wallet.bucket_balances().items()}


def _lots(wallet: Wallet, now: datetime) -> dict[str, tuple]:
    """Lots by source; a spent lot past its expiry may linger in the stored wallet until the next write."""
    return {lot.source: (lot.bucket, q(lot.granted), q(lot.remaining), lot.expires_at)
            for lot in wallet.lots.values()
            if not (lot.remaining == 0 and lot.expires_at and lot.expires_at <= stamp(now))}


def _model_lots(model: WalletModel, now: datetime) -> dict[str, tuple]:
    return {lot.source: (lot.bucket, lot.granted, lot.remaining, stamp(lot.expires) if lot.expires else None)
            for lot in model.lots.values() if not (lot.remaining == 0 and lot.expires and lot.expires <= now)}


def _system_entries(entries: list[dict[str, Any]]) -> list[tuple]:
    from tests.adversarial.model import MLine

    source_of: dict[str, str] = {}
    out = []
    for item in entries:
        key = item["sk"][2:]
        for line in item.get("lines", []):
            if line.get("lot_id"):
                source_of.setdefault(line["lot_id"], key)
        if key.startswith("exp:"):
            key = "exp:" + source_of.get(key[4:], key[4:])
        elif match := PLAN_RECORD.match(key):
            key = f"plan:@:{match.group(1)}"
        lines = [MLine(ln["direction"], q(ln["amount"]), ln["reason_code"], ln["bucket"],
                       source_of[ln["lot_id"]] if ln.get("lot_id") else None, q(ln["balance_after"]))
                 for ln in item.get("lines", [])]
        out.append((key, item["entry_kind"], lines))
    return out


def _run(aws, template, examples: int, steps: int) -> None:
    WalletMachine.aws, WalletMachine.template = aws, template
    with fast_transactions():  # moto copies whole tables per transaction otherwise; same writes
        run_state_machine_as_test(WalletMachine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, phases=PHASES,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


def test_the_engine_agrees_with_the_model_after_every_step(aws, template):
    _run(aws, template, examples=int(os.environ.get("ADV_EXAMPLES", CI_EXAMPLES)), steps=30)


@pytest.mark.soak
def test_soak_the_engine_agrees_with_the_model(aws, template):
    _run(aws, template, examples=SOAK_EXAMPLES, steps=30)
