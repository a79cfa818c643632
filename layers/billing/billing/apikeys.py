"""API keys: generated once, stored only as a SHA-256 hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from billing import aws, keys, store
from billing.clock import stamp, utcnow
from billing.errors import NotFound, ValidationFailed

SCOPES = ("billing:read", "billing:write")
PREFIX = "bk_"


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    account_id: str
    scopes: tuple[str, ...]
    revoked: bool


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise ValidationFailed(f"scopes must be a comma list of {', '.join(SCOPES)}; got {text!r}")
    return scopes


def create_key(account_id: str, scopes: tuple[str, ...]) -> tuple[str, str]:
    """Returns (api_key, key_id). The key itself is never stored."""
    if store.get_wallet(account_id) is None:
        raise NotFound(f"account {account_id} does not exist", account_id=account_id)
    api_key = PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(8)
    key_hash = hash_key(api_key)
    record = {"key_id": key_id, "account_id": account_id, "scopes": list(scopes), "revoked": False,
              "created_at": stamp(utcnow())}
    aws.ddb("transact_write_items", TransactItems=[
        {"Put": {"TableName": store.config_table(), "ConditionExpression": "attribute_not_exists(pk)",
                 "Item": aws.to_item({"pk": keys.api_key_pk(key_hash), "sk": "KEY", **record})}},
        {"Put": {"TableName": store.config_table(), "ConditionExpression": "attribute_not_exists(pk)",
                 "Item": aws.to_item({"pk": keys.key_id_pk(key_id), "sk": "KEYID", "key_hash": key_hash,
                                      "account_id": account_id})}},
    ])
    return api_key, key_id


def revoke_key(key_id: str) -> dict[str, Any]:
    pointer = store.get_item(keys.key_id_pk(key_id), "KEYID", table=store.config_table())
    if pointer is None:
        raise NotFound(f"no key with id {key_id}", key_id=key_id)
    aws.ddb("update_item", TableName=store.config_table(),
            Key=aws.to_item({"pk": keys.api_key_pk(pointer["key_hash"]), "sk": "KEY"}),
            UpdateExpression="SET revoked = :t, revoked_at = :at",
            ExpressionAttributeValues=aws.to_item({":t": True, ":at": stamp(utcnow())}))
    return {"key_id": key_id, "account_id": pointer["account_id"], "revoked": True}


def lookup(api_key: str) -> KeyRecord | None:
    """The key's record if it exists and is not revoked (consistent read: a revocation acts at once)."""
    if not api_key or len(api_key) > 256:
        return None
    key_hash = hash_key(api_key)
    item = store.get_item(keys.api_key_pk(key_hash), "KEY", table=store.config_table())
    if item is None or item.get("revoked"):
        return None
    # the item was found by its hash; compare again in constant time so no timing reveals a partial match
    if not hmac.compare_digest(item["pk"], keys.api_key_pk(key_hash)):
        return None
    return KeyRecord(item["key_id"], item["account_id"], tuple(item.get("scopes", ())), False)
