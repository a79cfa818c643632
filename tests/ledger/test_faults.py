"""Injected storage faults leave no partial state; crashes after commit are harmless on redelivery."""

from __future__ import annotations

import json
from decimal import Decimal

from billing import aws, keys, ledger, store
from billing.events import UsageEvent
from tests.faults import Crash, client_error, fail_first, hook
from tests.helpers import load_handler, sqs_event, usage

NO_WAIT = ledger.Context(sleep=lambda _: None)


def _events(*events: dict) -> list[UsageEvent]:
    return [UsageEvent.model_validate_json(json.dumps(e)) for e in events]


def _count(operation: str):
    calls = {"n": 0}

    def handler(**_):
        calls["n"] += 1

    return f"before-parameter-build.dynamodb.{operation}", handler, calls


def test_a_transaction_conflict_is_retried_once_and_applies_exactly_once(billing, account):
    before = store.get_wallet(account)
    name, inject, injected = fail_first("TransactWriteItems", lambda p: client_error(
        "TransactionCanceledException", "TransactWriteItems",
        reasons=["TransactionConflict"] + ["None"] * (len(p["TransactItems"]) - 1)))
    count_name, count, commits = _count("TransactWriteItems")
    with hook(count_name, count), hook(name, inject):  # count every attempt, injected or not
        outcomes = ledger.apply_events(account, _events(usage("e1", urls=7)), NO_WAIT)

    assert outcomes["e1"].status == "applied"
    assert injected["injected"] == 1 and commits["n"] == 2  # the failed attempt, then one retry
    assert before.net() - store.get_wallet(account).net() == Decimal(7)


def test_throttling_on_commit_leaves_nothing_behind_then_succeeds(billing, account):
    before = store.get_wallet(account)
    name, inject, injected = fail_first(
        "TransactWriteItems", lambda p: client_error("ProvisionedThroughputExceededException", "TransactWriteItems"))
    with hook(name, inject):
        outcomes = ledger.apply_events(account, _events(usage("e1", urls=7)), NO_WAIT)
    assert outcomes["e1"].status == "applied" and injected["injected"] == 1
    assert store.get_wallet(account).version == before.version + 1


def test_persistent_throttling_fails_the_records_for_redelivery_without_partial_writes(billing, account,
                                                                                        lambda_context):
    consumer = load_handler("usage_consumer")
    before = store.get_wallet(account)
    event = sqs_event([usage("e1"), usage("e2")])
    name, inject, _ = fail_first(
        "TransactWriteItems", lambda p: client_error("ThrottlingException", "TransactWriteItems"), times=100)
    with hook(name, inject):
        result = consumer.lambda_handler(event, lambda_context)

    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == {r["messageId"] for r in event["Records"]}
    assert store.get_wallet(account).version == before.version
    assert store.get_item(keys.account_pk(account), keys.entry_sk("evt:e1")) is None
    # the redelivery, with storage healthy again, applies both once
    assert consumer.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    assert before.net() - store.get_wallet(account).net() == Decimal(20)


def test_a_crash_right_after_the_commit_then_redelivery_changes_nothing(billing, account, lambda_context):
    consumer = load_handler("usage_consumer")
    event = sqs_event([usage("e1", urls=4)])

    def crash(**_):
        raise Crash("process died after commit")

    try:
        with hook("after-call.dynamodb.TransactWriteItems", crash):
            consumer.lambda_handler(event, lambda_context)
        raise AssertionError("the crash should have propagated")
    except Crash:
        pass
    committed = store.get_wallet(account)

    assert consumer.lambda_handler(sqs_event([usage("e1", urls=4)], receive_count=2), lambda_context) == {
        "batchItemFailures": []}
    assert store.get_wallet(account).version == committed.version
    assert store.get_wallet(account).net() == committed.net()


def test_a_concurrent_writer_between_read_and_commit_is_detected_and_redone(billing, account):
    """Deterministic interleaving: another writer commits right before our transaction."""
    state = {"done": False}

    def competing_write(**_):
        if not state["done"]:
            state["done"] = True
            ledger.grant_promotional(account, Decimal(50), "promo-race", ctx=NO_WAIT)

    before = store.get_wallet(account)
    with hook("before-call.dynamodb.TransactWriteItems", competing_write):
        outcomes = ledger.apply_events(account, _events(usage("e1", urls=5)), NO_WAIT)

    assert outcomes["e1"].status == "applied"
    assert store.get_wallet(account).net() == before.net() + Decimal(50) - Decimal(5)


def test_a_duplicate_found_only_at_commit_is_told_apart_from_a_conflict(billing, account):
    """The pre-read missed the entry (a racing copy committed first): CancellationReasons tell which."""
    ledger.apply_events(account, _events(usage("e1", urls=5)), NO_WAIT)
    real_batch_get = store.batch_get

    def blind_batch_get(wanted, table=None):  # hide the stored entry from the pre-read
        return {k: v for k, v in real_batch_get(wanted, table).items() if not k[1].startswith("E#evt:")}

    store.batch_get = blind_batch_get
    try:
        same = ledger.apply_events(account, _events(usage("e1", urls=5)), NO_WAIT)
        other = ledger.apply_events(account, _events(usage("e1", urls=6)), NO_WAIT)
    finally:
        store.batch_get = real_batch_get
    assert same["e1"].status == "duplicate"
    assert other["e1"].status == "conflict" and other["e1"].fields == ["urls"]
    assert aws.dynamodb() is not None
