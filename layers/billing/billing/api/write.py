"""POST /plan/select: the plan change, made idempotent on the Idempotency-Key header.

Powertools idempotency with DynamoDB persistence: the record's key is (account, Idempotency-Key)
and its payload hash covers the body, so the same key with the same body gives back the stored
answer and the same key with another body raises IdempotencyValidationError (409).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import aws, ledger, plan_change
from billing.api import views
from billing.api.models import PlanSelection
from billing.money import fmt
from billing.settings import get_settings

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


def select_plan(account_id: str, plan_id: str, ctx: ledger.Context = ledger.DEFAULT) -> dict[str, Any]:
    selection = plan_change.select(account_id, plan_id, ctx)
    wallet = selection.wallet
    assert wallet is not None
    return PlanSelection(
        account_id=account_id, change=selection.change,  # type: ignore[arg-type]
        plan_id=wallet.plan_id, previous_plan_id=selection.previous_plan_id, pending_plan_id=wallet.pending_plan_id,
        effective_at=selection.effective_at, granted=fmt(selection.granted), lot_id=selection.lot_id,
        subscription=views.subscription_of(wallet, ctx.plans()),
    ).model_dump(mode="json")


@cache
def _idempotent(table: str) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """Built on first use (settings are read lazily, never at import); cached per table name."""
    config = IdempotencyConfig(
        event_key_jmespath="[account_id, idempotency_key]",
        payload_validation_jmespath="body",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb"))

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return select_plan(request["account_id"], request["body"]["plan_id"])

    return config, run


def select_plan_once(account_id: str, plan_id: str, idempotency_key: str | None,
                     lambda_context: LambdaContext | None) -> dict[str, Any]:
    if not idempotency_key:
        return select_plan(account_id, plan_id)
    config, run = _idempotent(get_settings().idempotency_table)
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    request = {"account_id": account_id, "idempotency_key": idempotency_key, "body": {"plan_id": plan_id}}
    return run(request=request)


def reset() -> None:
    """Tests and the local stack change tables and clients: forget the cached persistence layer."""
    _idempotent.cache_clear()
