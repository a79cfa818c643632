"""The scheduled refresh job: page every account, fan shards out to the refresh queue, refresh a shard.

The schedule (EventBridge Scheduler, UTC) hands its scheduled time to `fan_out`, which pages the
wallet items and sends shards of SHARD_SIZE account ids, ten per SendMessageBatch, to the refresh
queue. The worker calls `refresh_shard` for each message: `ledger.refresh_account` per account,
with the ledger clock pinned to the scheduled time, so the periods granted are those of the
schedule and not of the moment the message happens to be processed. `run_all` is the same job in
one process, for the operator CLI (`billing-admin refresh run [--at T]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from billing import aws, keys, ledger, store
from billing.clock import day_of, month_of, stamp, utcnow
from billing.errors import AccountNotFound, BillingError, StorageError, ValidationFailed
from billing.settings import get_settings

SHARD_SIZE = 100  # account ids per refresh message (~4 KB, far below SQS's 256 KiB)
SEND_BATCH = 10  # SendMessageBatch's maximum
MAX_FUTURE = timedelta(minutes=5)  # a run for a period that has not started would write the future

AccountId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ScheduledRun(BaseModel):
    """The ScheduleV2 Input: `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`."""

    model_config = ConfigDict(extra="ignore")

    scheduled_time: AwareDatetime


class RefreshShard(BaseModel):
    """One refresh-queue message: the accounts to bring up to the schedule's time."""

    model_config = ConfigDict(extra="forbid")

    scheduled_time: AwareDatetime
    account_ids: Annotated[list[AccountId], Field(min_length=1, max_length=SHARD_SIZE)]


class ShardFailed(BillingError):
    """Some accounts of a shard failed; the message is retried (the others are then no-ops)."""

    code = "refresh_failed"


@dataclass
class ShardResult:
    accounts: int = 0
    entries_written: int = 0
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def periods_of(at: datetime) -> dict[str, str]:
    return {"scheduled_time": stamp(at), "period_day": day_of(at), "period_month": month_of(at)}


def check_not_future(at: datetime, clock: Callable[[], datetime] | None = None) -> None:
    if at - (clock or utcnow)() > MAX_FUTURE:
        raise ValidationFailed(f"refresh time {stamp(at)} is in the future", at=stamp(at))


# -- paging accounts --------------------------------------------------------------------------
def account_pages(segment: int = 0, total_segments: int = 1) -> Iterator[list[str]]:
    """Account ids, a page at a time, from the sparse Accounts index; `segment` of `total_segments`
    takes every total_segments-th of its 16 shards, so several schedulers can split the work."""
    shards = [s for s in range(keys.ACCOUNT_SHARDS) if s % total_segments == segment]
    yield from store.account_id_pages(shards)


def _shards(pages: Iterator[list[str]]) -> Iterator[list[str]]:
    pending: list[str] = []
    for page in pages:
        pending += page
        while len(pending) >= SHARD_SIZE:
            yield pending[:SHARD_SIZE]
            pending = pending[SHARD_SIZE:]
    if pending:
        yield pending


# -- fan-out ------------------------------------------------------------------------------------
def _send(queue_url: str, bodies: list[str]) -> None:
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    for _ in range(4):  # SendMessageBatch can fail some entries: resend only those
        response = aws.call("sqs", "send_message_batch", QueueUrl=queue_url, Entries=entries)
        failed = {f["Id"] for f in response.get("Failed", [])}
        if not failed:
            return
        entries = [e for e in entries if e["Id"] in failed]
    raise StorageError(f"refresh queue refused {len(entries)} messages")


def fan_out(at: datetime, queue_url: str | None = None, segment: int = 0, total_segments: int = 1,
            clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """Enqueue every account (of one segment of the index shards) in shards for the period containing `at`."""
    check_not_future(at, clock)
    url = queue_url or get_settings().refresh_queue_url
    if not url:
        raise ValidationFailed("REFRESH_QUEUE_URL is not set")
    accounts = messages = 0
    batch: list[str] = []
    for shard in _shards(account_pages(segment, total_segments)):
        batch.append(RefreshShard(scheduled_time=at, account_ids=shard).model_dump_json())
        accounts += len(shard)
        if len(batch) == SEND_BATCH:
            _send(url, batch)
            messages, batch = messages + len(batch), []
    if batch:
        _send(url, batch)
        messages += len(batch)
    return {"accounts": accounts, "messages": messages, **periods_of(at)}


# -- refreshing ---------------------------------------------------------------------------------
def context_at(at: datetime, base: ledger.Context = ledger.DEFAULT) -> ledger.Context:
    """The ledger context with its clock pinned to the schedule's time (the period it grants)."""
    return ledger.Context(now=lambda: at, rules=base.rules, plans=base.plans,
                          refunds_enabled=base.refunds_enabled, sleep=base.sleep)


def refresh_accounts(account_ids: list[str], at: datetime, base: ledger.Context = ledger.DEFAULT) -> ShardResult:
    """Refresh each account for the period containing `at`; one failure does not stop the others."""
    ctx = context_at(at, base)
    result = ShardResult()
    for account_id in account_ids:
        try:
            result.entries_written += ledger.refresh_account(account_id, ctx)
            result.accounts += 1
        except AccountNotFound:
            result.missing.append(account_id)
        except StorageError as exc:  # a lost race that kept losing, throttling: the message is retried
            result.failed[account_id] = f"{exc.code}: {exc}"
    return result


def refresh_shard(shard: RefreshShard, base: ledger.Context = ledger.DEFAULT) -> ShardResult:
    """The worker's operation for one message. Raises ShardFailed when any account failed."""
    result = refresh_accounts(shard.account_ids, shard.scheduled_time, base)
    if result.failed:
        raise ShardFailed(f"{len(result.failed)} of {len(shard.account_ids)} accounts failed",
                          failed=result.failed)
    return result


def run_all(at: datetime | None = None, base: ledger.Context = ledger.DEFAULT,
            clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """The whole job in this process (operator CLI): every account, for the period containing `at`."""
    at = at or (clock or utcnow)()
    check_not_future(at, clock)
    total = ShardResult()
    for page in account_pages():
        result = refresh_accounts(page, at, base)
        total.accounts += result.accounts
        total.entries_written += result.entries_written
        total.missing += result.missing
        total.failed.update(result.failed)
    summary: dict[str, Any] = {"accounts": total.accounts, "entries_written": total.entries_written,
                               "missing": len(total.missing), **periods_of(at)}
    if total.failed:  # the run is safe to repeat: what succeeded is not granted twice
        raise ShardFailed(f"{len(total.failed)} accounts failed; run again for the same time",
                          **summary, failed=dict(sorted(total.failed.items())[:20]))
    return summary


__all__ = ["ScheduledRun", "RefreshShard", "ShardFailed", "fan_out", "refresh_shard", "refresh_accounts",
           "run_all", "account_pages", "SHARD_SIZE"]
