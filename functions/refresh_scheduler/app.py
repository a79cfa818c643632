"""EventBridge Scheduler (ScheduleV2) -> fan the period's refresh out to the refresh queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import scheduler

logger = Logger()


@logger.inject_lambda_context
@event_parser(model=scheduler.ScheduledRun)
def lambda_handler(event: scheduler.ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    summary = scheduler.fan_out(event.scheduled_time)
    logger.info("refresh fanned out", extra=summary)
    return summary
