"""End to end: the local stack from template.yaml, driven only through SQS, HTTP and billing-admin."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

pytestmark = pytest.mark.e2e

APPLY_TIMEOUT = 45  # the usage queue's batching window is 20 s
TASK, EXECUTION = "task_e2e", "exec_e2e"
BILLING_ADMIN = Path(sys.executable).parent / "billing-admin"


def usage_event(event_id: str, account_id: str, **fields: Any) -> dict[str, Any]:
    event = {"schema_version": "1", "event_id": event_id, "account_id": account_id, "kind": "usage",
             "occurred_at": datetime.now(UTC).isoformat(), "task_id": TASK, "execution_id": EXECUTION,
             "action_type": "scrape", "phase": "fetch", "step": 0, "attempt": 1, "urls": 3, "preview": False}
    event.update(fields)
    return event


def get(stack: dict[str, Any], path: str, key: str | None = None, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or stack['read_key']}"}
    return requests.get(stack["api_url"] + path, headers=headers, params=params, timeout=30)


def sqs(stack: dict[str, Any]) -> Any:
    return boto3.client("sqs", endpoint_url=stack["aws_endpoint_url"], region_name=stack["region"],
                        aws_access_key_id="e2e", aws_secret_access_key="e2e")


def net(balance: dict[str, Any]) -> Decimal:
    return Decimal(balance["total_available"]) - Decimal(balance["overage"])


@pytest.fixture(scope="module")
def applied(local_stack: dict[str, Any]) -> dict[str, Any]:
    """Given the demo account, when three usage events and a malformed one are sent, the good ones apply."""
    stack = local_stack
    before = get(stack, "/balance").json()
    client = sqs(stack)
    account = stack["demo_account_id"]
    good = [usage_event(f"evt_e2e_{i}_{uuid.uuid4().hex[:6]}", account, action_type=kind, step=i)
            for i, kind in enumerate(("scrape", "crawl", "search"))]
    bodies = [json.dumps(e) for e in good] + ['{"schema_version": "1", "event_id": "evt_broken"']
    client.send_message_batch(QueueUrl=stack["usage_queue_url"], Entries=[
        {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)])
    started = time.monotonic()
    lines: list[dict[str, Any]] = []
    while time.monotonic() - started < APPLY_TIMEOUT:
        lines = get(stack, "/ledger", execution_id=EXECUTION).json().get("data", [])
        if len({line["event_id"] for line in lines}) == len(good):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"usage not applied in {APPLY_TIMEOUT} s; console:\n{stack['log'].read_text()[-4000:]}")
    return {"before": before, "after": get(stack, "/balance").json(), "events": good, "lines": lines,
            "sqs": client}


def test_the_balance_drops_by_the_debited_lines(applied):
    debited = sum(Decimal(line["amount"]) for line in applied["lines"] if line["direction"] == "debit")
    assert debited > 0
    assert net(applied["after"]) == net(applied["before"]) - debited


def test_the_ledger_has_one_debit_per_event_with_its_reason_code(local_stack, applied):
    by_event = {line["event_id"]: line for line in applied["lines"]}
    for event in applied["events"]:
        line = by_event[event["event_id"]]
        assert line["direction"] == "debit"
        assert line["reason_code"] == f"usage.{event['action_type']}"
        assert line["task_id"] == TASK and line["execution_id"] == EXECUTION
    newest = get(local_stack, "/ledger", limit=1).json()
    assert len(newest["data"]) == 1 and newest["has_more"] is True and newest["next_cursor"]


def test_spend_summaries_of_the_execution_and_the_task(local_stack, applied):
    debited = sum(Decimal(line["amount"]) for line in applied["lines"])
    execution = get(local_stack, f"/usage/executions/{EXECUTION}/spend-summary").json()
    assert execution["event_count"] == 3
    assert Decimal(execution["total_debited"]) == debited
    assert set(execution["by_action_type"]) == {"scrape", "crawl", "search"}
    task = get(local_stack, f"/usage/tasks/{TASK}/spend-summary").json()
    assert task["execution_count"] == 1 and Decimal(task["net"]) == Decimal(execution["net"])


def test_the_monthly_statement_reconciles(local_stack, applied):
    month = datetime.now(UTC).strftime("%Y-%m")
    statement = get(local_stack, "/statements/monthly", month=month).json()
    assert statement["month"] == month and statement["month_to_date"] is True
    opening, credits, debits, closing = (Decimal(statement[k]) for k in (
        "opening_balance", "total_credits", "total_debits", "closing_balance"))
    assert opening + credits - debits == closing
    assert closing == net(get(local_stack, "/balance").json())
    assert Decimal(statement["debits_by_reason"]["usage.scrape"]) > 0


def test_the_malformed_event_lands_in_the_dlq(local_stack, applied):
    client = applied["sqs"]
    deadline = time.monotonic() + 10
    bodies: list[str] = []
    while time.monotonic() < deadline and not any("evt_broken" in b for b in bodies):
        messages = client.receive_message(QueueUrl=local_stack["usage_dlq_url"], MaxNumberOfMessages=10,
                                          WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
        bodies += [m["Body"] for m in messages]
    assert any("evt_broken" in b for b in bodies), bodies
    left = client.get_queue_attributes(QueueUrl=local_stack["usage_queue_url"], AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0" and left["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_plan_select_needs_the_write_key_and_honours_the_idempotency_key(local_stack, applied):
    url = local_stack["api_url"] + "/plan/select"
    denied = requests.post(url, json={"plan_id": "starter"}, timeout=30,
                           headers={"Authorization": f"Bearer {local_stack['read_key']}", "Idempotency-Key": "e2e-1"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"

    headers = {"Authorization": f"Bearer {local_stack['write_key']}", "Idempotency-Key": "e2e-1"}
    first = requests.post(url, json={"plan_id": "starter"}, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["plan_id"] == "starter" and first.json()["change"] == "upgrade"
    again = requests.post(url, json={"plan_id": "starter"}, headers=headers, timeout=30)
    assert again.status_code == 200 and again.json() == first.json()
    other = requests.post(url, json={"plan_id": "pro"}, headers=headers, timeout=30)
    assert other.status_code == 409
    assert get(local_stack, "/plan").json()["plan_id"] == "starter"


def test_requests_without_a_key_are_401_and_unknown_routes_404(local_stack):
    assert requests.get(local_stack["api_url"] + "/balance", timeout=30).status_code == 401
    missing = requests.get(local_stack["api_url"] + "/nowhere", timeout=30)
    assert missing.status_code == 404 and missing.json() == {"message": "Not Found"}


def test_swagger_ui_and_the_openapi_document_are_served(local_stack):
    host = local_stack["api_url"].removesuffix("/api/v1/billing")
    docs = requests.get(host + "/docs", timeout=30)
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    document = requests.get(host + "/openapi.json", timeout=30).json()
    assert "/api/v1/billing/balance" in document["paths"]


def billing_admin(stack: dict[str, Any], *args: str) -> dict[str, Any]:
    """billing-admin with exactly the environment of stack.json (plus PATH for the interpreter)."""
    done = subprocess.run([str(BILLING_ADMIN), *args], env={**stack["env"], "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_billing_admin_works_with_the_env_of_stack_json(local_stack):
    assert set(local_stack["env"]) >= {"AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "BILLING_TABLE", "CONFIG_TABLE",
                                       "IDEMPOTENCY_TABLE", "USAGE_QUEUE_URL", "USAGE_DLQ_URL", "REFRESH_QUEUE_URL"}
    assert billing_admin(local_stack, "pricing", "show")["current_version"] == 0
    account = billing_admin(local_stack, "account", "create", "--account-id", "acct_e2e_cli")["account_id"]
    key = billing_admin(local_stack, "key", "create", "--account", account, "--scopes", "billing:read")["api_key"]
    grant = billing_admin(local_stack, "credits", "grant", "--account", account, "--amount", "12.5",
                          "--bucket", "promotional", "--idempotency-key", "e2e-grant")
    assert grant["lot_id"]
    balance = get(local_stack, "/balance", key=key)
    assert balance.status_code == 200 and balance.json()["buckets"]["promotional"]["available"] == "12.5"
    pushed = billing_admin(local_stack, "demo", "push-usage", "--account", account, "--urls", "1")
    assert pushed["message_id"]
