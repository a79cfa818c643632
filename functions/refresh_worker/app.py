"""SQS refresh queue -> bring each account of a shard up to the schedule's period; failed shards retried."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from billing import scheduler

logger = Logger()


class RefreshRecord(SqsRecordModel):  # no postponed annotations here: pydantic resolves Json[...]
    body: Json[scheduler.RefreshShard]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=RefreshRecord, raise_on_entire_batch_failure=False)


def record_handler(record: RefreshRecord) -> dict[str, Any]:
    shard = record.body
    try:
        result = scheduler.refresh_shard(shard)
    except scheduler.ShardFailed as failed:
        logger.warning("refresh shard failed", extra={"message_id": record.messageId, **failed.details})
        raise
    logger.info("refresh shard done", extra={"message_id": record.messageId, "accounts": result.accounts,
                                              "entries_written": result.entries_written, "missing": result.missing})
    return {"accounts": result.accounts, "entries_written": result.entries_written}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
