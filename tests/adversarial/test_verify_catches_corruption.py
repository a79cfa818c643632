"""`billing-admin ledger verify` catches an item corrupted on purpose: exit 1 and a message naming it."""

from __future__ import annotations

import json

import pytest

from billing import cli, keys, ledger, store
from billing.events import UsageEvent
from tests.helpers import usage

ACCOUNT = "acct_v"
NO_WAIT = ledger.Context(sleep=lambda _: None)


def _verify(capsys) -> tuple[int, dict]:
    try:
        code = cli.main(["ledger", "verify", "--account", ACCOUNT])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


@pytest.fixture
def books(aws):
    ledger.create_account(ACCOUNT, ctx=NO_WAIT)
    events = [usage(f"e{i}", ACCOUNT, urls=40 * (i + 1), execution_id="x1", task_id="t1") for i in range(3)]
    ledger.apply_events(ACCOUNT, [UsageEvent.model_validate_json(json.dumps(e)) for e in events], NO_WAIT)
    return aws


def _set(aws, sk: str, expression: str, values: dict, names: dict | None = None) -> None:
    """Write behind the engine's back, as a bad migration or a hand edit would."""
    extra = {"ExpressionAttributeNames": names} if names else {}
    aws.ddb.update_item(TableName=aws.tables["BillingTable"],
                        Key={"pk": {"S": keys.account_pk(ACCOUNT)}, "sk": {"S": sk}},
                        UpdateExpression=expression, ExpressionAttributeValues=values, **extra)


def _first_lot(aws) -> str:
    return next(iter(store.get_wallet(ACCOUNT).lots))


CORRUPTIONS = {
    "a wallet lot's remaining": (lambda aws: _set(aws, "W", "SET lots.#lot.remaining = :v",
                                                  {":v": {"N": "999"}}, {"#lot": _first_lot(aws)}), "remaining"),
    "the wallet's overage": (lambda aws: _set(aws, "W", "SET overage = :v", {":v": {"N": "7"}}), "overage"),
    "a statement total": (lambda aws: _set(aws, keys.month_sk(_month()), "SET total_debits = :v",
                                           {":v": {"N": "1"}}), "total_debits"),
    "a statement closing balance": (lambda aws: _set(aws, keys.month_sk(_month()), "SET closing_balance = :v",
                                                     {":v": {"N": "123"}}), "closing_balance"),
    "an X# aggregate": (lambda aws: _set(aws, keys.execution_sk("x1"), "SET total_debited = :v",
                                         {":v": {"N": "5"}}), "X#x1"),
    "a T# execution count": (lambda aws: _set(aws, keys.task_sk("t1"), "SET execution_count = :v",
                                              {":v": {"N": "9"}}), "execution_count"),
    "a ledger line amount": (lambda aws: _set(aws, keys.entry_sk("evt:e1"), "SET #l[0].amount = :v",
                                              {":v": {"N": "0.5"}}, {"#l": "lines"}), "line"),
}


def _month() -> str:
    return store.get_wallet(ACCOUNT).last_recorded_at[:7]


def test_untouched_books_verify_clean(books, capsys):
    code, result = _verify(capsys)
    assert code == 0 and result["ok"] is True and result["accounts_checked"] == 1


@pytest.mark.corrupts_ledger
@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_verify_catches_a_corrupted_item(books, capsys, what):
    corrupt, named = CORRUPTIONS[what]
    corrupt(books)

    code, result = _verify(capsys)

    assert code == 1
    problems = result["problems"][ACCOUNT]
    assert problems and any(named in p for p in problems), problems
