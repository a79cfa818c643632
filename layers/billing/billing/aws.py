"""The only module of the package that imports boto3/botocore.

Clients are created lazily and cached; AWS errors become domain errors here (by error code,
never by message text), so nothing above this module knows about botocore.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
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


# Direct (de)serializers for the types the domain stores, dispatched on the exact type: boto3's
# TypeSerializer walks a chain of isinstance checks per value and was two thirds of the consumer's
# CPU. The output is TypeSerializer's, byte for byte (tests/unit/test_aws_serialization.py); numbers
# still go through DYNAMODB_CONTEXT, so an inexact or rounded number raises as it did. Anything else
# (sets, bytes, tuples, subclasses, floats) is left to boto3's own.
_create_decimal = DYNAMODB_CONTEXT.create_decimal  # traps Inexact, Rounded, Overflow, Underflow, Clamped


def _serialize(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is Decimal or kind is int:
        number = str(_create_decimal(value))
        if number in ("Infinity", "NaN"):
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}
    if kind is dict:
        return {"M": {k: _serialize(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [_serialize(v) for v in value]}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    return _serializer.serialize(value)


def _deserialize(value: dict[str, Any]) -> Any:
    if len(value) == 1:
        for kind, inner in value.items():
            if kind == "S":
                return inner
            if kind == "N":
                return _create_decimal(inner)
            if kind == "M":
                return {k: _deserialize(v) for k, v in inner.items()}
            if kind == "L":
                return [_deserialize(v) for v in inner]
            if kind == "BOOL":
                return inner
            if kind == "NULL":
                return None
    return _deserializer.deserialize(value)


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Python dict (Decimal numbers) -> DynamoDB attribute-value map. None values are dropped."""
    return {k: _serialize(v) for k, v in data.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    return _serialize(value)


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _deserialize(v) for k, v in item.items()}


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
