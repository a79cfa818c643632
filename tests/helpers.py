"""Test helpers: usage events of the contract, SQS events of the real shape, handler loading."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def load_handler(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py under a unique name (every function's module is called app)."""
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{function_dir}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def usage(event_id: str, account_id: str = "acct_1", **fields: Any) -> dict[str, Any]:
    event = {
        "schema_version": "1", "event_id": event_id, "account_id": account_id, "kind": "usage",
        "occurred_at": "2026-12-04T09:00:00Z", "task_id": "task_1", "execution_id": "exec_1",
        "action_type": "scrape", "phase": "fetch", "step": 0, "attempt": 1, "urls": 10, "preview": False,
    }
    event.update(fields)
    return event


def refund(event_id: str, refund_of: str, account_id: str = "acct_1", **fields: Any) -> dict[str, Any]:
    return usage(event_id, account_id, kind="refund", refund_of=refund_of, **fields)


def sqs_event(bodies: list[dict[str, Any] | str], receive_count: int = 1) -> dict[str, Any]:
    """An SQS event for Lambda in the shape of events/sqs_usage.json, one record per body."""
    template = load_event("sqs_usage.json")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        text = body if isinstance(body, str) else json.dumps(body)
        record["messageId"] = str(uuid.uuid4())
        record["body"] = text
        record["md5OfBody"] = hashlib.md5(text.encode()).hexdigest()
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}
