"""Fault injection through botocore event hooks on the domain's own DynamoDB client.

moto has no transaction conflicts, throttling or crashes; these hooks inject them at exact points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from billing import aws


def client_error(code: str, operation: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": f"injected {code}"},
                                "ResponseMetadata": {"HTTPStatusCode": 400}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, operation)


class Crash(Exception):
    """The process died (e.g. the Lambda timed out) right after DynamoDB committed."""


@contextmanager
def hook(event_name: str, handler: Callable[..., Any]) -> Iterator[None]:
    events = aws.dynamodb().meta.events
    events.register(event_name, handler)
    try:
        yield
    finally:
        events.unregister(event_name, handler)


def fail_first(operation: str, error: Callable[[dict[str, Any]], Exception], times: int = 1):
    """A before-call hook that raises `error(params)` on the first `times` calls of `operation`."""
    calls = {"n": 0, "injected": 0}

    def handler(params: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        if calls["injected"] < times:
            calls["injected"] += 1
            raise error(params)

    return f"before-parameter-build.dynamodb.{operation}", handler, calls
