"""Read routes of the billing API (GET, billing:read): wiring only, the logic is billing.api.views."""

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.api import http, views
from billing.api.models import (
    ActivityPage,
    BalanceResponse,
    Direction,
    Ident,
    LedgerPage,
    Month,
    MonthlyStatement,
    PlanList,
    ReasonCode,
    SpendSummary,
    Subscription,
    TaskSpendSummary,
)

BASE = "/api/v1/billing"
logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
http.install(app, http.READ)

Limit = Annotated[int, Query(ge=1, le=200, description="page size, 1-200")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")]
From = Annotated[datetime | None, Query(alias="from", description="recorded_at >= from (RFC 3339)")]
To = Annotated[datetime | None, Query(alias="to", description="recorded_at <= to (RFC 3339)")]
TaskFilter = Annotated[Ident | None, Query(description="only lines of this task")]
ExecutionFilter = Annotated[Ident | None, Query(description="only lines of this execution")]
DirectionFilter = Annotated[Direction | None, Query()]
ReasonFilter = Annotated[ReasonCode | None, Query()]


@app.get(f"{BASE}/balance", summary="Balance by bucket", tags=["balance"],
         responses=http.responses(BalanceResponse, 404))
def get_balance(include_active_lots: Annotated[bool, Query()] = False,
                include_refresh_meta: Annotated[bool, Query()] = False) -> BalanceResponse:
    who = http.require(app, http.READ)
    return views.balance(who.account_id, include_active_lots, include_refresh_meta)


@app.get(f"{BASE}/ledger", summary="Ledger lines, newest recorded_at first", tags=["ledger"],
         responses=http.responses(LedgerPage))
def get_ledger(limit: Limit = 50, cursor: Cursor = None, start: From = None, end: To = None,
               task_id: TaskFilter = None, execution_id: ExecutionFilter = None,
               direction: DirectionFilter = None, reason_code: ReasonFilter = None) -> LedgerPage:
    who = http.require(app, http.READ)
    filters = views.Filters.build(start, end, task_id=task_id, execution_id=execution_id, direction=direction,
                                  reason_code=reason_code)
    return views.ledger_page(who.account_id, filters, limit, cursor)


@app.get(f"{BASE}/activity", summary="Activity feed, newest first", tags=["ledger"],
         responses=http.responses(ActivityPage))
def get_activity(limit: Limit = 50, cursor: Cursor = None, start: From = None, end: To = None,
                 task_id: TaskFilter = None, execution_id: ExecutionFilter = None,
                 direction: DirectionFilter = None, reason_code: ReasonFilter = None) -> ActivityPage:
    who = http.require(app, http.READ)
    filters = views.Filters.build(start, end, task_id=task_id, execution_id=execution_id, direction=direction,
                                  reason_code=reason_code)
    return views.activity_page(who.account_id, filters, limit, cursor)


@app.get(f"{BASE}/usage/executions/<execution_id>/spend-summary", summary="Spend of one execution", tags=["usage"],
         responses=http.responses(SpendSummary, 404))
def get_execution_spend(execution_id: Annotated[Ident, Path()]) -> SpendSummary:
    who = http.require(app, http.READ)
    return views.execution_spend(who.account_id, execution_id)


@app.get(f"{BASE}/usage/tasks/<task_id>/spend-summary", summary="Spend of one task", tags=["usage"],
         responses=http.responses(TaskSpendSummary, 404))
def get_task_spend(task_id: Annotated[Ident, Path()]) -> TaskSpendSummary:
    who = http.require(app, http.READ)
    return views.task_spend(who.account_id, task_id)


@app.get(f"{BASE}/statements/monthly", summary="Monthly statement (month-to-date for the current month)",
         tags=["statements"],
         responses=http.responses(MonthlyStatement))
def get_monthly_statement(month: Annotated[Month, Query(description="YYYY-MM")]) -> MonthlyStatement:
    who = http.require(app, http.READ)
    return views.statement(who.account_id, month)


@app.get(f"{BASE}/plans", summary="Plan catalogue", tags=["plans"],
         responses=http.responses(PlanList))
def get_plans() -> PlanList:
    http.require(app, http.READ)
    return views.plans()


@app.get(f"{BASE}/plan", summary="Current subscription", tags=["plans"],
         responses=http.responses(Subscription, 404))
def get_plan() -> Subscription:
    who = http.require(app, http.READ)
    return views.subscription(who.account_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
