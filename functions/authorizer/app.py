"""Lambda REQUEST authorizer (HTTP API payload 2.0, simple responses) for billing API keys.

Every request is let through (isAuthorized=true) and the verdict travels in the context: a valid
key gives authenticated="true" with account_id, scopes and key_id; a missing, unknown or revoked
key gives authenticated="false". The API functions then answer 401/403 with the contract's JSON
error body, which API Gateway's own denial ({"message": "Forbidden"}) would not have.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import apikeys

logger = Logger()


def presented_key(event: APIGatewayAuthorizerEventV2) -> str | None:
    """`Authorization: Bearer <key>` first, else `x-api-key` (header names are case-insensitive)."""
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return (headers.get("x-api-key") or "").strip() or None


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict:
    key = presented_key(event)
    record = apikeys.lookup(key) if key else None
    if record is None:
        logger.info("request without a valid API key", extra={"route": event.route_key, "key_presented": bool(key)})
        return APIGatewayAuthorizerResponseV2(authorize=True, context={"authenticated": "false"}).asdict()
    logger.append_keys(account_id=record.account_id, key_id=record.key_id)
    return APIGatewayAuthorizerResponseV2(authorize=True, context={
        "authenticated": "true", "account_id": record.account_id, "key_id": record.key_id,
        "scopes": " ".join(record.scopes),
    }).asdict()
