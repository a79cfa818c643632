"""Usage ingestion: judge a whole SQS batch, grouped by account, before reporting per record.

Each record is validated against the contract. A malformed record, an unknown account, a
refund while refunds are off, or a conflicting duplicate is quarantined: sent to the DLQ with
its reason (and acknowledged, so it is not retried forever) and nothing is written. Valid events
are grouped by account and applied by the ledger engine with as few transactions as the item
limit allows. Storage failures leave the group's records failed, so SQS redelivers them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import Json, ValidationError

from billing import aws, ledger
from billing.errors import BillingError
from billing.events import UsageEvent, differing_fields
from billing.money import ZERO
from billing.settings import get_settings

try:  # the parser models come with Powertools in the layer; the domain does not need the rest of it
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
except ImportError:  # pragma: no cover
    SqsRecordModel = None  # type: ignore[assignment,misc]

MAX_REASON = 900


class UsageRecord(SqsRecordModel):  # type: ignore[misc,valid-type]
    """An SQS record whose body is one usage event of the contract."""

    body: Json[UsageEvent]  # type: ignore[assignment]


@dataclass
class Verdict:
    message_id: str
    status: str  # applied | duplicate | quarantined | retry
    reason: str | None = None
    event_id: str | None = None
    account_id: str | None = None
    amount: Decimal = ZERO
    fields: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Only a retryable problem is reported back to SQS; a quarantined record is acknowledged."""
        return self.status == "retry"


def _reason_of(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in problem["loc"] if p != "body") or "body"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)[:MAX_REASON]


def parse_record(record: dict[str, Any]) -> UsageEvent:
    return UsageRecord.model_validate(record).body  # type: ignore[return-value]


def quarantine(record: dict[str, Any], verdict: Verdict) -> None:
    """Send the record to the DLQ with its reason; acknowledged afterwards, so never retried."""
    body = record.get("body") or ""
    if len(body.encode()) > 200_000:  # leave room for attributes within SQS's 256 KiB
        body = body.encode()[:200_000].decode(errors="ignore")
    attributes = {
        "reason": verdict.reason or "rejected",
        "source_message_id": verdict.message_id,
        "quarantined_by": "usage-consumer",
    }
    if verdict.event_id:
        attributes["event_id"] = verdict.event_id
    if verdict.fields:
        attributes["differing_fields"] = ",".join(verdict.fields)
    aws.call("sqs", "send_message", QueueUrl=get_settings().usage_dlq_url, MessageBody=body or "(empty body)",
             MessageAttributes={k: {"DataType": "String", "StringValue": v[:MAX_REASON]}
                                for k, v in attributes.items()})


def judge_batch(records: list[dict[str, Any]], ctx: ledger.Context = ledger.DEFAULT,
                send_to_dlq: Callable[[dict[str, Any], Verdict], None] = quarantine) -> dict[str, Verdict]:
    """Verdict for every record of the batch, keyed by messageId."""
    verdicts: dict[str, Verdict] = {}
    by_account: dict[str, list[tuple[dict[str, Any], UsageEvent]]] = defaultdict(list)
    for record in records:
        message_id = record.get("messageId", "")
        try:
            event = parse_record(record)
        except ValidationError as error:
            verdicts[message_id] = Verdict(message_id, "quarantined", reason=f"invalid event: {_reason_of(error)}")
            continue
        by_account[event.account_id].append((record, event))

    for account_id, group in by_account.items():
        firsts: dict[str, UsageEvent] = {}
        firsts_message: dict[str, str] = {}
        for _, event in group:
            firsts.setdefault(event.event_id, event)
        try:
            outcomes = ledger.apply_events(account_id, list(firsts.values()), ctx)
        except BillingError as error:  # storage kept failing: the whole group is retried by SQS
            outcomes = {e: ledger.Outcome(e, "rejected", reason=error.code, retryable=True) for e in firsts}
        judged: set[str] = set()
        for record, event in group:
            message_id = record["messageId"]
            if event.event_id in judged:  # a second copy in the same batch
                first = firsts[event.event_id]
                if first.canonical_json() != event.canonical_json():
                    fields = differing_fields(first.canonical_json(), event)
                    verdicts[message_id] = Verdict(message_id, "quarantined", reason=_conflict_reason(fields),
                                                   fields=fields, event_id=event.event_id, account_id=account_id)
                    continue
                copy = verdicts[firsts_message[event.event_id]]
                # an identical copy shares its twin's fate: a conflicting or rejected record is not a duplicate
                status = "duplicate" if copy.status in ("applied", "duplicate") else copy.status
                verdicts[message_id] = Verdict(message_id, status, reason=copy.reason, event_id=event.event_id,
                                               account_id=account_id, fields=list(copy.fields))
                continue
            judged.add(event.event_id)
            firsts_message[event.event_id] = message_id
            verdicts[message_id] = _verdict(message_id, event, outcomes[event.event_id])

    for record in records:
        verdict = verdicts.get(record.get("messageId", ""))
        if verdict is not None and verdict.status == "quarantined":
            try:
                send_to_dlq(record, verdict)
            except BillingError:  # could not park it: let SQS redeliver (redrive reaches the DLQ anyway)
                verdict.status = "retry"
    return verdicts


def _verdict(message_id: str, event: UsageEvent, outcome: ledger.Outcome) -> Verdict:
    base = {"event_id": event.event_id, "account_id": event.account_id}
    if outcome.status == "applied":
        return Verdict(message_id, "applied", amount=outcome.amount or ZERO, **base)
    if outcome.status == "duplicate":
        return Verdict(message_id, "duplicate", **base)
    if outcome.status == "conflict":
        return Verdict(message_id, "quarantined", reason=_conflict_reason(outcome.fields), fields=outcome.fields,
                       **base)
    if outcome.retryable:
        return Verdict(message_id, "retry", reason=outcome.reason, **base)
    return Verdict(message_id, "quarantined", reason=outcome.reason, **base)


def _conflict_reason(fields: list[str]) -> str:
    return f"event_conflict: same event_id, different {', '.join(fields)}"


__all__ = ["judge_batch", "Verdict", "UsageRecord"]
