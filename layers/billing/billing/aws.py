"""The only module of the package that imports boto3/botocore.

Clients are created lazily and cached; AWS errors become domain errors here (by error code,
never by message text), so nothing above this module knows about botocore.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from billing.errors import ConditionFailed, Retryable, StorageError, TransactionCancelled
from billing.settings import get_settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)

# Standard retry mode with a few attempts; the domain retries transaction conflicts itself.
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, region_name=get_settings().region, config=_CONFIG)


def dynamodb() -> Any:
    return client("dynamodb")


def sqs() -> Any:
    return client("sqs")


def reset_clients() -> None:
    client.cache_clear()
    _pricing_provider.cache_clear()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Python dict (Decimal numbers) -> DynamoDB attribute-value map. None values are dropped."""
    return {k: _serializer.serialize(v) for k, v in data.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _translate(exc: ClientError) -> StorageError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(error.get("Message", code), item=from_item(exc.response.get("Item")))
    if code == "TransactionCanceledException":
        reasons = [
            (r.get("Code", "None"), from_item(r.get("Item")))
            for r in exc.response.get("CancellationReasons", [])
        ]
        return TransactionCancelled(error.get("Message", code), reasons)
    if code in RETRYABLE_CODES:
        return Retryable(f"{code}: {error.get('Message', '')}")
    return StorageError(f"{code}: {error.get('Message', '')}")


def call(service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    """Call one AWS operation, translating failures into domain errors."""
    method = getattr(client(service), operation)
    try:
        return method(**kwargs)
    except ClientError as exc:
        raise _translate(exc) from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc


def ddb(operation: str, **kwargs: Any) -> dict[str, Any]:
    return call("dynamodb", operation, **kwargs)


@lru_cache(maxsize=1)
def _pricing_provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

    return DynamoDBProvider(
        table_name=get_settings().config_table,
        key_attr="pk",
        sort_attr="sk",
        value_attr="value",
        boto3_session=boto3.session.Session(region_name=get_settings().region),
    )


def config_values(partition: str, max_age: int, force_fetch: bool = False) -> dict[str, str]:
    """All `value`s of one ConfigTable partition (sk -> value), cached by Powertools Parameters."""
    try:
        return _pricing_provider().get_multiple(partition, max_age=max_age, force_fetch=force_fetch) or {}
    except ClientError as exc:
        raise _translate(exc) from exc
    except Exception as exc:  # Powertools wraps every failure in GetParameterError
        cause = exc.__cause__
        if isinstance(cause, ClientError):
            raise _translate(cause) from exc
        raise StorageError(f"cannot read configuration {partition!r}: {exc}") from exc


__all__ = ["Decimal", "call", "ddb", "dynamodb", "sqs", "to_item", "from_item", "to_value", "config_values"]
