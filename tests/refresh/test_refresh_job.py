"""The fan-out job: scheduler handler -> refresh queue -> worker handler, crashes and concurrent debits."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from billing import keys, ledger, scheduler, store
from tests.faults import Crash, client_error, hook
from tests.helpers import load_event, load_handler, usage
from tests.refresh.support import at, create, ctx_at, entries, entry_keys, net

SCHEDULED = "2026-12-01T00:00:00Z"  # the time in events/schedule_refresh.json and events/sqs_refresh.json


@pytest.fixture
def worker():
    return load_handler("refresh_worker")


@pytest.fixture
def fan_out_handler():
    return load_handler("refresh_scheduler")


def _grant_keys(account_id: str) -> list[str]:
    return entry_keys(account_id, "grant:")


def _receive_all(aws, queue: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        got = aws.sqs.receive_message(QueueUrl=aws.queues[queue], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return messages
        messages += got


def _as_lambda_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Received SQS messages in the shape Lambda's event source mapping delivers (events/sqs_refresh.json)."""
    template = load_event("sqs_refresh.json")["Records"][0]
    return {"Records": [{**template, "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                         "body": m["Body"], "md5OfBody": m["MD5OfBody"]} for m in messages]}


def test_the_worker_refreshes_every_account_of_the_sample_event(billing, worker, lambda_context):
    for account_id in ("acct_demo", "acct_team"):
        create(account_id, "2026-11-30T10:00:00Z")
    create("acct_pro", "2026-11-30T10:00:00Z", "pro")

    response = worker.lambda_handler(load_event("sqs_refresh.json"), lambda_context)

    assert response == {"batchItemFailures": []}
    for account_id in ("acct_demo", "acct_team", "acct_pro"):
        assert "grant:monthly_plan:2026-12" in _grant_keys(account_id)
        assert "grant:daily_free:2026-12-01" in _grant_keys(account_id)
    assert entry_keys("acct_pro", "grant:rollover:") == ["grant:rollover:2026-12"]
    assert worker.lambda_handler(load_event("sqs_refresh.json"), lambda_context) == {"batchItemFailures": []}
    assert len(_grant_keys("acct_demo")) == 4


def test_a_failing_account_fails_only_its_record(billing, worker, lambda_context):
    for account_id in ("acct_demo", "acct_team", "acct_pro"):
        create(account_id, "2026-11-30T10:00:00Z")
    event = load_event("sqs_refresh.json")
    pk_pro = keys.account_pk("acct_pro")

    def conflict_for_pro(params: dict[str, Any], **_: Any) -> None:
        if any(op["Put"]["Item"]["pk"]["S"] == pk_pro for op in params["TransactItems"]):
            raise client_error("TransactionCanceledException", "TransactWriteItems", ["TransactionConflict"])

    with hook("before-parameter-build.dynamodb.TransactWriteItems", conflict_for_pro):
        response = worker.lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert "grant:daily_free:2026-12-01" in _grant_keys("acct_demo")
    assert "grant:daily_free:2026-12-01" not in _grant_keys("acct_pro")
    assert worker.lambda_handler({"Records": [event["Records"][1]]}, lambda_context) == {"batchItemFailures": []}
    assert "grant:daily_free:2026-12-01" in _grant_keys("acct_pro")


def test_a_malformed_shard_and_a_missing_account(billing, worker, lambda_context):
    create("acct_demo", "2026-11-30T10:00:00Z")
    event = load_event("sqs_refresh.json")
    event["Records"][1]["body"] = json.dumps({"scheduled_time": "not a time", "account_ids": ["acct_pro"]})

    response = worker.lambda_handler(event, lambda_context)

    # acct_team does not exist: skipped, not retried; the unparseable message goes back to the queue
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert "grant:daily_free:2026-12-01" in _grant_keys("acct_demo")


def test_the_scheduler_fans_out_shards_that_the_worker_refreshes(billing, fan_out_handler, worker, lambda_context,
                                                                 monkeypatch):
    monkeypatch.setattr(scheduler, "SHARD_SIZE", 2)  # 5 accounts -> 3 messages, in one SendMessageBatch
    accounts = [create(f"acct_{i}", "2026-11-30T10:00:00Z") for i in range(5)]

    summary = fan_out_handler.lambda_handler(load_event("schedule_refresh.json"), lambda_context)

    assert summary == {"accounts": 5, "messages": 3, "scheduled_time": "2026-12-01T00:00:00.000000Z",
                       "period_day": "2026-12-01", "period_month": "2026-12"}
    messages = _receive_all(billing, "RefreshQueue")
    bodies = [json.loads(m["Body"]) for m in messages]
    assert sorted(a for b in bodies for a in b["account_ids"]) == accounts
    assert {b["scheduled_time"] for b in bodies} == {"2026-12-01T00:00:00Z"}
    assert worker.lambda_handler(_as_lambda_event(messages), lambda_context) == {"batchItemFailures": []}
    for account_id in accounts:
        assert _grant_keys(account_id)[-2:] == ["grant:daily_free:2026-12-01", "grant:monthly_plan:2026-12"]


def test_the_scheduler_refuses_a_time_in_the_future(billing):
    with pytest.raises(Exception, match="in the future"):
        scheduler.fan_out(at("2026-12-02T00:00:00Z"), clock=lambda: at("2026-12-01T00:00:00Z"))


def test_a_crash_after_n_accounts_then_a_rerun_grants_the_rest_and_none_twice(billing):
    accounts = [create(f"acct_{i}", "2026-11-30T10:00:00Z") for i in range(6)]
    commits = {"n": 0}

    def crash_after_three(**_: Any) -> None:
        commits["n"] += 1
        if commits["n"] > 3:
            raise Crash("the job died")  # after three accounts were committed

    moment = at(SCHEDULED)
    with hook("after-call.dynamodb.TransactWriteItems", crash_after_three), pytest.raises(Crash):
        scheduler.run_all(moment, base=ctx_at(moment), clock=lambda: moment)
    done = [a for a in accounts if "grant:daily_free:2026-12-01" in _grant_keys(a)]
    assert len(done) == 4  # the fourth committed, then the process died before it knew

    rerun = scheduler.run_all(moment, base=ctx_at(moment), clock=lambda: moment)

    assert rerun["accounts"] == 6
    assert rerun["entries_written"] == 2 * 4  # two expiries and two grants for each of the two left
    for account_id in accounts:
        keys_ = _grant_keys(account_id)
        assert len(keys_) == len(set(keys_)) == 4
        assert net(account_id) == Decimal("2100")


@pytest.mark.parametrize("debit_clock", ["2026-11-30T23:59:59.900000Z", "2026-12-01T00:00:00.500000Z"])
def test_a_debit_in_flight_while_the_period_starts_loses_nothing_and_grants_once(billing, debit_clock):
    """The debit reads the wallet; the period's refresh commits; then the debit's transaction runs."""
    create("acct_1", "2026-11-30T10:00:00Z")
    raced = {"done": False}

    def refresh_commits_first(**_: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            scheduler.refresh_accounts(["acct_1"], at(SCHEDULED), ctx_at(at(SCHEDULED)))

    from billing.events import UsageEvent

    event = UsageEvent.model_validate_json(json.dumps(usage("evt_1", "acct_1", occurred_at="2026-11-30T23:59:00Z")))
    with hook("before-parameter-build.dynamodb.TransactWriteItems", refresh_commits_first):
        outcome = ledger.apply_events("acct_1", [event], ctx_at(at(debit_clock)))

    assert outcome["evt_1"].status == "applied"
    charged = outcome["evt_1"].amount
    assert charged > 0
    grants = _grant_keys("acct_1")
    assert grants.count("grant:daily_free:2026-12-01") == 1 and grants.count("grant:monthly_plan:2026-12") == 1
    assert entry_keys("acct_1", "evt:") == ["evt:evt_1"]
    order = [e["sk"] for e in entries("acct_1")]
    assert order.index("E#grant:monthly_plan:2026-12") < order.index("E#evt:evt_1")  # the debit came second
    assert net("acct_1") == Decimal("2100") - charged
    assert store.get_wallet("acct_1").version == 3  # create, refresh, debit: no lost update


def test_the_refresh_loses_the_race_to_a_debit_and_retries(billing):
    """The mirror interleaving: the refresh read first, a debit (which refreshes lazily) commits first."""
    create("acct_1", "2026-11-30T10:00:00Z")
    from billing.events import UsageEvent

    event = UsageEvent.model_validate_json(json.dumps(usage("evt_1", "acct_1", occurred_at="2026-11-30T23:59:00Z")))
    raced = {"done": False}

    def debit_commits_first(**_: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            ledger.apply_events("acct_1", [event], ctx_at(at("2026-12-01T00:00:01Z")))

    with hook("before-parameter-build.dynamodb.TransactWriteItems", debit_commits_first):
        result = scheduler.refresh_accounts(["acct_1"], at(SCHEDULED), ctx_at(at(SCHEDULED)))

    assert (result.accounts, result.failed, result.entries_written) == (1, {}, 0)  # the debit had granted it
    assert _grant_keys("acct_1").count("grant:daily_free:2026-12-01") == 1
    assert store.get_wallet("acct_1").version == 2

