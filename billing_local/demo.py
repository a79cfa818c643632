"""Seed data of the local stack: plans, a demo account and its two API keys, the same on every run.

moto's server keeps its state in memory, so every start re-creates the account and stores the
keys again. Keys are stored only as hashes and `billing-admin key create` always makes a new one,
so the demo keys are generated once, remembered in `.local/demo-keys.json`, and stored again by
hash with the item layout of `billing.apikeys.create_key`.
"""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path
from typing import Any

DEMO_ACCOUNT_ID = "acct_demo"
DEMO_PLAN_ID = "free"
READ_SCOPES = ("billing:read",)
WRITE_SCOPES = ("billing:read", "billing:write")


def store_known_key(api_key: str, key_id: str, account_id: str, scopes: tuple[str, ...]) -> None:
    """Store an API key whose value is already known, as `apikeys.create_key` stores a new one."""
    from billing import apikeys, aws, keys, store
    from billing.clock import stamp, utcnow

    key_hash = apikeys.hash_key(api_key)
    record = {"key_id": key_id, "account_id": account_id, "scopes": list(scopes), "revoked": False,
              "created_at": stamp(utcnow())}
    aws.ddb("transact_write_items", TransactItems=[
        {"Put": {"TableName": store.config_table(),
                 "Item": aws.to_item({"pk": keys.api_key_pk(key_hash), "sk": "KEY", **record})}},
        {"Put": {"TableName": store.config_table(),
                 "Item": aws.to_item({"pk": keys.key_id_pk(key_id), "sk": "KEYID", "key_hash": key_hash,
                                      "account_id": account_id})}},
    ])


def _new_key() -> dict[str, str]:
    from billing import apikeys

    return {"api_key": apikeys.PREFIX + secrets.token_urlsafe(32), "key_id": "key_" + secrets.token_hex(8)}


def remembered_keys(path: Path) -> dict[str, Any]:
    """The demo account and keys of earlier runs (generated and saved on the first run)."""
    try:
        saved = json.loads(path.read_text())
        if all(saved.get(k, {}).get("api_key") for k in ("read", "write")) and saved.get("account_id"):
            return saved
    except (OSError, ValueError, AttributeError):
        pass
    saved = {"account_id": DEMO_ACCOUNT_ID, "plan_id": DEMO_PLAN_ID, "read": _new_key(), "write": _new_key()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2) + "\n")
    path.chmod(0o600)
    return saved


def seed(keys_file: Path) -> dict[str, Any]:
    """Plans, the demo account and its read and read+write keys. Idempotent."""
    from billing import cli, ledger

    plans = cli.plans_seed(argparse.Namespace(file=None))
    # pricing: nothing stored means the shipped default rules (version 0), which `pricing show` reports
    demo = remembered_keys(keys_file)
    ledger.create_account(demo["account_id"], demo.get("plan_id", DEMO_PLAN_ID))
    store_known_key(demo["read"]["api_key"], demo["read"]["key_id"], demo["account_id"], READ_SCOPES)
    store_known_key(demo["write"]["api_key"], demo["write"]["key_id"], demo["account_id"], WRITE_SCOPES)
    return {"plans": plans["plans"], **demo}
