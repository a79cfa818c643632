"""SQS -> usage consumer: judge the batch per account, report only the retryable records as failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import consumer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

METRIC_OF = {"applied": "EventsPriced", "duplicate": "Duplicates", "quarantined": "Quarantined", "retry": "Retried"}


def _report(verdicts: dict[str, consumer.Verdict]):
    def record_handler(record: SQSRecord) -> str:
        verdict = verdicts[record.message_id]
        with logger.append_context_keys(event_id=verdict.event_id, account_id=verdict.account_id,
                                        message_id=record.message_id):
            if verdict.status == "quarantined":
                logger.warning("usage event quarantined", extra={"reason": verdict.reason,
                                                                 "differing_fields": verdict.fields})
                if verdict.fields:
                    metrics.add_metric(name="EventConflicts", unit=MetricUnit.Count, value=1)
            elif verdict.status == "retry":
                logger.warning("usage event will be retried", extra={"reason": verdict.reason})
                raise RuntimeError(f"retry: {verdict.reason}")
            else:
                logger.info(f"usage event {verdict.status}", extra={"amount": str(verdict.amount)})
        return verdict.status

    return record_handler


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    verdicts = consumer.judge_batch(event.get("Records", []))
    for verdict in verdicts.values():
        metrics.add_metric(name=METRIC_OF[verdict.status], unit=MetricUnit.Count, value=1)
        if verdict.status == "applied":  # micro-credits: an exact integer, never a float
            metrics.add_metric(name="MicroCreditsDebited", unit=MetricUnit.Count,
                               value=int(verdict.amount * 1_000_000))
    return process_partial_response(event=event, record_handler=_report(verdicts), processor=processor,
                                    context=context)
