"""Edges of the consumer found by the storm, pinned as plain tests."""

from __future__ import annotations

from billing import consumer, ledger, store
from tests.helpers import sqs_event, usage

NO_WAIT = ledger.Context(sleep=lambda _: None)


def test_two_identical_copies_of_a_conflicting_event_in_one_batch_are_both_quarantined(aws):
    """Given e1 is stored, when a batch carries two identical copies of an e1 with other content,
    then both records are conflicts (quarantined, in the DLQ), neither is acknowledged as a duplicate."""
    ledger.create_account("acct_1", ctx=NO_WAIT)
    consumer.judge_batch(sqs_event([usage("e1", urls=3)])["Records"], NO_WAIT, send_to_dlq=lambda r, v: None)
    before = store.get_wallet("acct_1")
    parked = []
    batch = sqs_event([usage("e1", urls=4), usage("e1", urls=4)])["Records"]

    verdicts = consumer.judge_batch(batch, NO_WAIT, send_to_dlq=lambda r, v: parked.append(r["messageId"]))

    assert [verdicts[r["messageId"]].status for r in batch] == ["quarantined", "quarantined"]
    assert all(verdicts[r["messageId"]].reason.startswith("event_conflict") for r in batch)
    assert sorted(parked) == sorted(r["messageId"] for r in batch)
    assert store.get_wallet("acct_1").version == before.version
