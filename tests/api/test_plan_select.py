"""POST /plan/select: the mid-period rule, plan_change activity, idempotency, and no write on bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from apisupport import billing_items, call

from billing import ledger, plan_change, store, verify
from billing.clock import stamp
from billing.refresh import month_start, next_month


def select(key, plan_id, idempotency_key=None, **kw):
    headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
    return call("plan_select", key, body={"plan_id": plan_id}, headers=headers, **kw)


def without_idempotency_key(key, plan_id):
    from apisupport import ROUTES, authorize, context, event, handler

    request = event(ROUTES["plan_select"][0])
    request["headers"].pop("idempotency-key")
    request["headers"]["authorization"] = f"Bearer {key}"
    request["body"] = f'{{"plan_id": "{plan_id}"}}'
    request["requestContext"]["authorizer"] = {"lambda": authorize(key)["context"]}
    return handler("api_write").lambda_handler(request, context())


def test_upgrade_takes_effect_at_once_with_the_prorated_difference(acct):
    reply = select(acct.write_key, "pro", "k-upgrade")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["change"] == "upgrade" and body["plan_id"] == "pro" and body["previous_plan_id"] == "free"
    granted = Decimal(body["granted"])
    assert Decimal(0) < granted <= Decimal(248000)
    wallet = store.get_wallet(acct.account_id)
    lot = wallet.lots[body["lot_id"]]
    assert lot.bucket == "monthly_plan" and lot.granted == granted
    assert lot.expires_at == stamp(next_month(month_start(datetime.now(UTC))))
    assert call("plan", acct.read_key).body["plan_id"] == "pro"
    activity = call("activity", acct.read_key).body["data"]
    change = next(item for item in activity if item["type"] == "plan_change")
    assert change["amount"] == body["granted"] and change["details"]["plan_id"] == "pro"
    grant = call("ledger", acct.read_key, query={"limit": 1}).body["data"][0]
    assert grant["reason_code"] == "grant.monthly_plan" and grant["amount"] == body["granted"]
    assert verify.verify_account(acct.account_id) == []


def test_prorating_is_by_the_time_left_in_the_month():
    mid = datetime(2026, 12, 16, 12, tzinfo=UTC)  # half of December is left
    assert plan_change.prorated(Decimal(31000), mid) == Decimal(15500)
    assert plan_change.prorated(Decimal(1000), datetime(2026, 12, 1, tzinfo=UTC)) == Decimal(1000)


def test_downgrade_waits_for_the_next_period_and_selecting_the_plan_again_cancels_it(acct):
    assert select(acct.write_key, "pro", "k1").status == 200
    down = select(acct.write_key, "starter", "k2").body
    assert down["change"] == "downgrade_scheduled" and down["plan_id"] == "pro" and down["pending_plan_id"] == "starter"
    assert down["effective_at"] == stamp(next_month(month_start(datetime.now(UTC))))
    assert down["granted"] == "0" and down["lot_id"] is None
    plan = call("plan", acct.read_key).body
    assert plan["plan_id"] == "pro" and plan["pending_plan_id"] == "starter" and plan["pending_effective_at"]
    kept = select(acct.write_key, "pro", "k3").body
    assert kept["change"] == "pending_cancelled" and kept["pending_plan_id"] is None
    types = [item["type"] for item in call("activity", acct.read_key).body["data"]]
    assert types.count("plan_change") == 3


def test_upgrading_twice_to_the_same_plan_in_a_month_grants_once(acct):
    first = select(acct.write_key, "starter", "a").body
    assert first["change"] == "upgrade"
    assert select(acct.write_key, "pro", "b").body["change"] == "upgrade"
    ctx = ledger.Context(sleep=lambda s: None)
    wallet = store.get_wallet(acct.account_id)
    wallet.plan_id = "free"  # pretend the account went back to free within the month
    again = plan_change._apply(ledger.Journal(wallet, ctx.now()), wallet, ctx.plans()["starter"],
                               ctx.plans()["free"])
    assert again.granted == 0  # plan:{month}:starter was granted already


def test_selecting_the_current_plan_is_a_no_op(acct, api):
    before = billing_items(api)
    response = without_idempotency_key(acct.write_key, "free")
    assert response["statusCode"] == 200
    assert '"change":"unchanged"' in response["body"].replace(" ", "")
    assert billing_items(api) == before


def test_same_key_same_body_same_answer_other_body_409(acct, api):
    first = select(acct.write_key, "pro", "same-key")
    again = select(acct.write_key, "pro", "same-key")
    assert first.status == again.status == 200 and again.body == first.body  # replayed, not re-run
    items = billing_items(api)
    conflict = select(acct.write_key, "starter", "same-key")
    assert conflict.status == 409 and conflict.error_code == "idempotency_conflict"
    assert conflict.body["error"]["request_id"]
    assert billing_items(api) == items
    assert store.get_wallet(acct.account_id).pending_plan_id is None


def test_the_same_key_of_another_account_is_another_request(acct, other):
    assert select(acct.write_key, "pro", "shared").status == 200
    theirs = select(other.write_key, "starter", "shared")
    assert theirs.status == 200 and theirs.body["account_id"] == "acct_b"


BAD_SELECTIONS = [
    ({"plan_id": "platinum"}, 404, "plan_not_found"),
    ({}, 400, "invalid_request"),
    ({"plan_id": ""}, 400, "invalid_request"),
    ({"plan_id": "pro", "account_id": "acct_b"}, 400, "invalid_request"),
    ({"plan_id": 7}, 400, "invalid_request"),
    ("not json", 400, "invalid_request"),
]


def test_bad_selections_write_nothing(acct, api):
    before = billing_items(api)
    for body, status, code in BAD_SELECTIONS:
        reply = call("plan_select", acct.write_key, body=body, headers={"idempotency-key": "bad"})
        assert reply.status == status and reply.error_code == code, (body, reply.body)
    assert billing_items(api) == before
    assert store.get_wallet(acct.account_id).plan_id == "free"


def test_a_read_key_cannot_select_and_nothing_is_written(acct, api):
    before = billing_items(api)
    reply = select(acct.read_key, "pro", "k")
    assert reply.status == 403 and reply.error_code == "forbidden"
    assert billing_items(api) == before
