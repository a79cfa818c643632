"""Every read of the billing API: single-item reads and key-range queries, never a scan.

Reads never write: the balance is projected in memory (`ledger.as_of`), so the read function's
IAM role holds no write action. Uses billing.store/billing.aws only (never boto3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from billing import aws, keys, store
from billing.wallet import Wallet

BY_TIME, BY_EXECUTION, BY_TASK = "ByTime", "ByExecution", "ByTask"
HIGH = "\uffff"  # sorts after every character a key can hold: "<stamp>" + HIGH bounds a prefix inclusively
MAX_QUERY_PAGE = 1000  # items asked per Query request at most


@dataclass(frozen=True)
class LedgerRange:
    """Which index partition and which inclusive gt_sk range a ledger page reads."""

    index: str
    partition_attr: str
    partition: str
    low: str | None  # inclusive lower bound of gt_sk
    high: str | None  # inclusive upper bound of gt_sk


def ledger_range(account_id: str, execution_id: str | None, task_id: str | None, low: str | None,
                 high: str | None) -> LedgerRange:
    """Execution and task filters are index partitions; `from`/`to` are key ranges on gt_sk."""
    if execution_id:
        return LedgerRange(BY_EXECUTION, "gx_pk", keys.execution_index_pk(account_id, execution_id), low, high)
    if task_id:
        return LedgerRange(BY_TASK, "gk_pk", keys.task_index_pk(account_id, task_id), low, high)
    return LedgerRange(BY_TIME, "gt_pk", keys.time_index_pk(account_id), low, high)


def _key_condition(attr: str, value: str, sort_attr: str, low: str | None, high: str | None,
                   ) -> tuple[str, dict[str, str], dict[str, Any]]:
    names = {"#p": attr}
    values: dict[str, Any] = {":p": value}
    if low is not None or high is not None:
        names["#s"] = sort_attr
    if low is not None and high is not None:
        values.update({":lo": low, ":hi": high})
        return "#p = :p AND #s BETWEEN :lo AND :hi", names, values
    if low is not None:
        values[":lo"] = low
        return "#p = :p AND #s >= :lo", names, values
    if high is not None:
        values[":hi"] = high
        return "#p = :p AND #s <= :hi", names, values
    return "#p = :p", names, values


def _query(kwargs: dict[str, Any], first: int) -> Iterator[dict[str, Any]]:
    """Items of a descending Query, as long as the caller pulls.

    The first request asks for `first` items (what one page needs when nothing is filtered out);
    each further request asks for twice as many, up to MAX_QUERY_PAGE, so a page reads few items
    beyond what it returns and a sparse filter still needs few round trips.
    """
    kwargs = {**kwargs, "ScanIndexForward": False, "Limit": max(1, min(first, MAX_QUERY_PAGE))}
    while True:
        response = aws.ddb("query", **kwargs)
        kwargs["Limit"] = min(kwargs["Limit"] * 2, MAX_QUERY_PAGE)
        for raw in response.get("Items", []):
            yield aws.from_item(raw)  # type: ignore[misc]
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def ledger_entries(span: LedgerRange, first: int) -> Iterator[dict[str, Any]]:
    """Entry items of the range, newest gt_sk first (GSIs are eventually consistent)."""
    condition, names, values = _key_condition(span.partition_attr, span.partition, "gt_sk", span.low, span.high)
    yield from _query({
        "TableName": store.billing_table(), "IndexName": span.index, "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": aws.to_item(values),
    }, first)


def activity_items(account_id: str, low: str, high: str, start_after: str | None,
                   filters: dict[str, str], first: int) -> Iterator[dict[str, Any]]:
    """Activity items with sk in [low, high], newest first, after `start_after` (an sk) when resuming.

    The key range does the selecting; task, execution, direction and reason filters are a
    FilterExpression inside that range (the feed holds one item per execution per day, not per line).
    """
    pk = keys.account_pk(account_id)
    condition, names, values = _key_condition("pk", pk, "sk", low, high)
    clauses = []
    for i, (attr, value) in enumerate(sorted(filters.items())):
        names[f"#f{i}"] = attr
        values[f":f{i}"] = value
        clauses.append(f"#f{i} = :f{i}")
    kwargs: dict[str, Any] = {
        "TableName": store.billing_table(), "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": aws.to_item(values),
    }
    if clauses:
        kwargs["FilterExpression"] = " AND ".join(clauses)
    if start_after:
        kwargs["ExclusiveStartKey"] = aws.to_item({"pk": pk, "sk": start_after})
    yield from _query(kwargs, first)


def wallet(account_id: str) -> Wallet | None:
    return store.get_wallet(account_id)


def account_item(account_id: str, sk: str) -> dict[str, Any] | None:
    """One aggregate item of the account (spend summary, statement): a single GetItem."""
    return store.get_item(keys.account_pk(account_id), sk)


def statement_before(account_id: str, month: str) -> dict[str, Any] | None:
    """The latest statement of a month before `month` (one Query, Limit 1, descending)."""
    response = aws.ddb(
        "query", TableName=store.billing_table(),
        KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues=aws.to_item(
            {":pk": keys.account_pk(account_id), ":lo": keys.MONTH, ":hi": keys.month_sk(month)}),
        ScanIndexForward=False, Limit=2, ConsistentRead=True,
    )
    for raw in response.get("Items", []):
        item = aws.from_item(raw)
        if item and item["sk"] < keys.month_sk(month):
            return item
    return None
