"""The authz matrix: every route x {no key, unknown key, revoked key, read key, write key, other account's key}."""

from __future__ import annotations

import json

import pytest
from apisupport import ROUTES, apply, authorize, call, make_account, usage_event

from billing import apikeys

READ_ROUTES = [r for r in ROUTES if r != "plan_select"]
ARGS = {
    "execution_spend": {"path": {"execution_id": "exec_a"}},
    "task_spend": {"path": {"task_id": "task_a"}},
    "plan_select": {"body": {"plan_id": "free"}},  # the current plan: a no-op, so cells do not interfere
    "statement": {"query": {"month": "2026-12"}},
}
EXPECTED = {  # key kind -> (status on read routes, status on POST /plan/select)
    "none": (401, 401),
    "unknown": (401, 401),
    "revoked": (401, 401),
    "read": (200, 403),
    "write": (200, 200),
    "other": (None, 200),  # reads: 200 with the other account's data, 404 for this account's execution/task
}


@pytest.fixture
def world(api):
    a = make_account("acct_a")
    apply("acct_a", usage_event("ea", "acct_a", task_id="task_a", execution_id="exec_a"))
    b = make_account("acct_b")
    revoked, key_id = apikeys.create_key("acct_a", ("billing:read", "billing:write"))
    apikeys.revoke_key(key_id)
    return {"a": a, "b": b, "keys": {"none": None, "unknown": "bk_" + "x" * 43, "revoked": revoked,
                                     "read": a.read_key, "write": a.write_key, "other": b.write_key}}


def expected_status(route: str, kind: str) -> int:
    expected = EXPECTED[kind][1 if route == "plan_select" else 0]
    if kind == "other" and route in ("execution_spend", "task_spend"):
        return 404  # acct_a's execution and task do not exist for acct_b
    return 200 if expected is None else expected


def test_matrix(world):
    """Every cell through authorizer + function; all cells are checked before anything fails."""
    wrong = []
    for route in ROUTES:
        for kind, key in world["keys"].items():
            reply = call(route, key, **ARGS.get(route, {}))
            expected = expected_status(route, kind)
            problems = []
            if reply.status != expected:
                problems.append(f"status {reply.status} != {expected}")
            if expected >= 400:
                if set(reply.body) != {"error"} or set(reply.body["error"]) != {"code", "message", "request_id"}:
                    problems.append(f"error body {reply.body}")
                elif reply.error_code != {401: "unauthenticated", 403: "forbidden", 404: "not_found"}[expected]:
                    problems.append(f"code {reply.error_code}")
            if kind == "other" and "acct_a" in json.dumps(reply.body):
                problems.append("acct_a data in the answer to acct_b")
            if problems:
                wrong.append((route, kind, problems))
    assert wrong == []


def test_other_accounts_data_never_appears(world):
    for route in ("ledger", "activity"):
        body = call(route, world["b"].read_key).body
        assert body["data"] and all(item.get("execution_id") != "exec_a" for item in body["data"])
    assert call("balance", world["b"].read_key).body["account_id"] == "acct_b"


def test_x_api_key_header_is_accepted(world):
    reply = call("balance", world["a"].read_key, header="x-api-key")
    assert reply.status == 200 and reply.body["account_id"] == "acct_a"


def test_a_write_only_key_cannot_read(world):
    key, _ = apikeys.create_key("acct_a", ("billing:write",))
    assert call("balance", key).status == 403
    assert call("plan_select", key, body={"plan_id": "free"}).status == 200


def test_authorizer_context(world):
    good = authorize(world["a"].write_key)
    assert good["isAuthorized"] is True
    assert good["context"] == {"authenticated": "true", "account_id": "acct_a",
                               "key_id": good["context"]["key_id"], "scopes": "billing:read billing:write"}
    for bad in (None, "", "bk_nope", world["keys"]["revoked"]):
        denied = authorize(bad)
        assert denied["context"] == {"authenticated": "false"}  # the function answers 401 with the JSON body


def test_account_id_in_the_request_is_ignored(world):
    reply = call("balance", world["a"].read_key, query={"account_id": "acct_b"},
                 headers={"x-account-id": "acct_b"})
    assert reply.status == 200 and reply.body["account_id"] == "acct_a"


def test_a_forged_authorizer_context_without_authenticated_flag_is_401(world):
    from apisupport import context, event, handler

    request = event("api_balance.json")
    request["requestContext"]["authorizer"] = {"lambda": {"account_id": "acct_a", "scopes": "billing:read"}}
    response = handler("api_read").lambda_handler(request, context())
    assert response["statusCode"] == 401
