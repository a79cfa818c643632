"""Drive the API the way API Gateway does: the authorizer first, its context into the route's event."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from billing import apikeys, ledger
from billing.clock import stamp, utcnow
from billing.events import UsageEvent

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# route name -> (event file, function folder)
ROUTES: dict[str, tuple[str, str]] = {
    "balance": ("api_balance.json", "api_read"),
    "ledger": ("api_ledger.json", "api_read"),
    "activity": ("api_activity.json", "api_read"),
    "execution_spend": ("api_execution_spend.json", "api_read"),
    "task_spend": ("api_task_spend.json", "api_read"),
    "statement": ("api_statement.json", "api_read"),
    "plans": ("api_plans.json", "api_read"),
    "plan": ("api_plan.json", "api_read"),
    "plan_select": ("api_plan_select.json", "api_write"),
}
_modules: dict[str, ModuleType] = {}


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def handler(function_dir: str) -> ModuleType:
    if function_dir not in _modules:
        path = ROOT / "functions" / function_dir / "app.py"
        spec = importlib.util.spec_from_file_location(f"api_fn_{function_dir}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[function_dir] = module
    return _modules[function_dir]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class LambdaContext:
    aws_request_id: str
    function_name: str = "billing-api-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:billing-api-test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def context(request_id: str | None = None) -> LambdaContext:
    return LambdaContext(aws_request_id=request_id or str(uuid.uuid4()))


def authorize(api_key: str | None, header: str = "authorization") -> dict[str, Any]:
    """Run the authorizer on events/authorizer.json with `api_key`; returns its simple response."""
    auth_event = event("authorizer.json")
    headers = {k: v for k, v in auth_event["headers"].items() if k not in ("authorization", "x-api-key")}
    if api_key is not None:
        headers[header] = f"Bearer {api_key}" if header == "authorization" else api_key
    auth_event["headers"] = headers
    return handler("authorizer").lambda_handler(auth_event, context())


def call(route: str, api_key: str | None, *, query: dict[str, Any] | None = None,
         path: dict[str, str] | None = None, body: Any = None, headers: dict[str, str] | None = None,
         header: str = "authorization") -> Reply:
    """Authorizer, then the route's function, with the route's real event from events/."""
    event_file, function_dir = ROUTES[route]
    request = copy.deepcopy(event(event_file))
    auth = authorize(api_key, header)
    assert auth["isAuthorized"] is True
    request["requestContext"]["authorizer"] = {"lambda": auth.get("context") or {}}
    request["headers"] = {k: v for k, v in request["headers"].items() if k not in ("authorization", "x-api-key")}
    if api_key is not None:
        request["headers"][header] = f"Bearer {api_key}" if header == "authorization" else api_key
    if headers is not None:
        request["headers"].update(headers)
    if query is not None:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items() if v is not None}
        request["queryStringParameters"] = query or None
        request["rawQueryString"] = urlencode(query)
    if path is not None:
        (name, value), = path.items()
        template_path = request["routeKey"].split(" ", 1)[1]
        raw = template_path.replace("{" + name + "}", value)
        request["pathParameters"] = {name: value}
        request["rawPath"] = raw
        request["requestContext"]["http"]["path"] = raw
    if body is not None:
        request["body"] = body if isinstance(body, str) else json.dumps(body)
    response = handler(function_dir).lambda_handler(request, context())
    text = response.get("body") or "null"
    return Reply(response["statusCode"], json.loads(text), response.get("headers") or {})


# -- state -------------------------------------------------------------------------------------
@dataclass
class Account:
    account_id: str
    read_key: str
    write_key: str  # billing:read and billing:write


def make_account(account_id: str, plan_id: str = "free", ctx: ledger.Context = ledger.DEFAULT) -> Account:
    ledger.create_account(account_id, plan_id, ctx=ctx)
    read_key, _ = apikeys.create_key(account_id, ("billing:read",))
    write_key, _ = apikeys.create_key(account_id, ("billing:read", "billing:write"))
    return Account(account_id, read_key, write_key)


def usage_event(event_id: str, account_id: str, *, urls: int = 10, task_id: str = "task_1",
                execution_id: str = "exec_1", action_type: str = "scrape", **extra: Any) -> UsageEvent:
    data = {
        "schema_version": "1", "event_id": event_id, "account_id": account_id, "kind": "usage",
        "occurred_at": stamp(utcnow() - timedelta(seconds=30)), "task_id": task_id, "execution_id": execution_id,
        "action_type": action_type, "phase": "fetch", "step": 0, "attempt": 1, "urls": urls, "preview": False,
        **extra,
    }
    return UsageEvent.model_validate_json(json.dumps(data))


def apply(account_id: str, *events: UsageEvent) -> None:
    outcomes = ledger.apply_events(account_id, list(events))
    assert {o.status for o in outcomes.values()} == {"applied"}, outcomes


def billing_items(aws_stack) -> int:
    """How many items the billing and idempotency tables hold (a write shows up here)."""
    return sum(aws_stack.ddb.scan(TableName=aws_stack.tables[t], Select="COUNT")["Count"]
               for t in ("BillingTable", "IdempotencyTable"))
