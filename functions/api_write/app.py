"""POST /plan/select (billing:write), idempotent on the Idempotency-Key header: wiring only."""

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.api import http, write
from billing.api.models import PlanSelection, SelectPlanRequest

BASE = "/api/v1/billing"
logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
http.install(app, http.WRITE)


@app.post(f"{BASE}/plan/select", summary="Select a plan", tags=["plans"],
          description="Upgrades take effect at once with the prorated difference of monthly credits granted; "
                      "downgrades take effect at the next monthly period. Same Idempotency-Key and body: the "
                      "same answer; same key, other body: 409 idempotency_conflict.",
          responses=http.responses(PlanSelection, 404, 409))
def select_plan(body: Annotated[SelectPlanRequest, Body()],
                idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=255)] = None,
                ) -> PlanSelection:
    who = http.require(app, http.WRITE)
    key = idempotency_key or app.current_event.headers.get("idempotency-key")  # headers are case-insensitive
    return PlanSelection.model_validate(write.select_plan_once(who.account_id, body.plan_id, key, app.lambda_context))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
