"""Opaque list cursors: base64url(JSON) + "." + base64url(HMAC-SHA256), bound to account, route and query.

The signed payload names the account, the route, a digest of the normalized filters, an expiry and
the position. Any change to any byte, another account, another query or an expired cursor is
rejected with `invalid_cursor` before anything is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from billing.errors import ValidationFailed
from billing.settings import get_settings


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def query_digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in filters.items() if v is not None}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _mac(payload: bytes) -> bytes:
    return hmac.new(get_settings().cursor_secret.encode(), payload, hashlib.sha256).digest()


def encode(account_id: str, route: str, filters: dict[str, Any], position: dict[str, Any],
           now: Callable[[], float] | None = None) -> str:
    body = {"a": account_id, "r": route, "q": query_digest(filters),
            "x": int((now or time.time)()) + get_settings().cursor_ttl_seconds, "p": position}
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def decode(token: str, account_id: str, route: str, filters: dict[str, Any],
           now: Callable[[], float] | None = None) -> dict[str, Any]:
    """The position a cursor carries, or InvalidCursor. The MAC is checked before anything is parsed."""
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except ValueError as exc:
        raise InvalidCursor("cursor is malformed") from exc
    if not hmac.compare_digest(mac, _mac(payload)):
        raise InvalidCursor("cursor is not valid")
    body = json.loads(payload)
    if body.get("a") != account_id or body.get("r") != route:
        raise InvalidCursor("cursor belongs to another account or route")
    if body.get("q") != query_digest(filters):
        raise InvalidCursor("cursor was made by a different query; repeat the same filters")
    if int(body.get("x", 0)) < (now or time.time)():
        raise InvalidCursor("cursor has expired; start again without a cursor")
    position = body.get("p")
    if not isinstance(position, dict):
        raise InvalidCursor("cursor is malformed")
    return position
