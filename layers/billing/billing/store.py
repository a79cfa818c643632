"""DynamoDB access of the domain: items <-> domain objects, reads, and the one write transaction.

Uses billing.aws for every call (the only boto3 importer); errors arrive as domain errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from billing import aws, keys
from billing.settings import get_settings
from billing.wallet import Entry, Line, Wallet

Key = tuple[str, str]
MAX_TRANSACT_ITEMS = 100


def billing_table() -> str:
    return get_settings().billing_table


def config_table() -> str:
    return get_settings().config_table


# -- wallet -------------------------------------------------------------------------------
def wallet_item(wallet: Wallet) -> dict[str, Any]:
    return {"pk": keys.account_pk(wallet.account_id), "sk": keys.WALLET, "kind": "wallet",
            "ga_pk": keys.account_index_pk(wallet.account_id), "ga_sk": wallet.account_id, **wallet.to_dict()}


def query_pages(**kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Every page of one Query (deserialized items), following LastEvaluatedKey to the end."""
    while True:
        response = aws.ddb("query", **kwargs)
        yield [aws.from_item(i) for i in response.get("Items", [])]  # type: ignore[misc]
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def account_id_pages(shards: Iterable[int] | None = None) -> Iterator[list[str]]:
    """Every account id, a page at a time, from the sparse Accounts index (never a table scan)."""
    for shard in range(keys.ACCOUNT_SHARDS) if shards is None else shards:
        for page in query_pages(TableName=billing_table(), IndexName="Accounts", KeyConditionExpression="ga_pk = :p",
                                ExpressionAttributeValues=aws.to_item({":p": keys.account_shard_pk(shard)})):
            if page:
                yield [item["ga_sk"] for item in page]


def get_wallet(account_id: str) -> Wallet | None:
    item = get_item(keys.account_pk(account_id), keys.WALLET)
    return Wallet.from_dict(item) if item else None


def get_item(pk: str, sk: str, table: str | None = None, consistent: bool = True) -> dict[str, Any] | None:
    response = aws.ddb(
        "get_item", TableName=table or billing_table(), Key=aws.to_item({"pk": pk, "sk": sk}),
        ConsistentRead=consistent,
    )
    return aws.from_item(response.get("Item"))


def batch_get(wanted: Iterable[Key], table: str | None = None) -> dict[Key, dict[str, Any]]:
    """Strongly consistent BatchGetItem of any number of keys, following UnprocessedKeys."""
    table = table or billing_table()
    unique = list(dict.fromkeys(wanted))
    found: dict[Key, dict[str, Any]] = {}
    for start in range(0, len(unique), 100):
        request = {
            table: {
                "Keys": [aws.to_item({"pk": pk, "sk": sk}) for pk, sk in unique[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        while request:
            response = aws.ddb("batch_get_item", RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = aws.from_item(raw)
                assert item is not None
                found[(item["pk"], item["sk"])] = item
            request = response.get("UnprocessedKeys") or {}
    return found


# -- entries ------------------------------------------------------------------------------
def entry_item(account_id: str, entry: Entry) -> dict[str, Any]:
    attrs = dict(entry.attrs)
    item: dict[str, Any] = {
        "pk": keys.account_pk(account_id),
        "sk": keys.entry_sk(entry.key),
        "kind": "entry",
        "entry_kind": entry.kind,
        "entry_id": entry.entry_id,
        "account_id": account_id,
        "recorded_at": entry.recorded_at,
        "occurred_at": entry.occurred_at,
        "lines": [line.to_dict() for line in entry.lines],
        "gt_pk": keys.time_index_pk(account_id),
        "gt_sk": keys.time_sort_key(entry.recorded_at, entry.entry_id),
        **attrs,
    }
    if attrs.get("execution_id"):
        item["gx_pk"] = keys.execution_index_pk(account_id, attrs["execution_id"])
    if attrs.get("task_id"):
        item["gk_pk"] = keys.task_index_pk(account_id, attrs["task_id"])
    return item


def entry_from_item(item: dict[str, Any]) -> Entry:
    reserved = {"pk", "sk", "kind", "entry_kind", "entry_id", "account_id", "recorded_at", "occurred_at", "lines",
                "gt_pk", "gt_sk", "gx_pk", "gk_pk"}
    return Entry(
        key=item["sk"][len(keys.ENTRY):], entry_id=item["entry_id"], kind=item["entry_kind"],
        recorded_at=item["recorded_at"], occurred_at=item["occurred_at"],
        lines=[Line.from_dict(line) for line in item.get("lines", [])],
        attrs={k: v for k, v in item.items() if k not in reserved},
    )


# -- the write transaction ----------------------------------------------------------------
@dataclass
class Commit:
    """One account's atomic change: the wallet at `expected_version` + 1, new items, whole aggregates."""

    wallet: Wallet
    expected_version: int | None  # None: the wallet is created by this commit
    new_items: list[dict[str, Any]] = field(default_factory=list)  # must not exist yet
    replaced_items: list[dict[str, Any]] = field(default_factory=list)  # aggregates, guarded by the wallet

    def size(self) -> int:
        return 1 + len(self.new_items) + len(self.replaced_items)

    def requests(self) -> list[dict[str, Any]]:
        table = billing_table()
        self.wallet.version = (self.expected_version or 0) + 1
        if self.expected_version is None:
            wallet_put: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            wallet_put = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": aws.to_value(self.expected_version)},
            }
        ops = [{"Put": {"TableName": table, "Item": aws.to_item(wallet_item(self.wallet)), **wallet_put,
                        "ReturnValuesOnConditionCheckFailure": "NONE"}}]
        for item in self.new_items:
            ops.append({"Put": {"TableName": table, "Item": aws.to_item(item),
                                "ConditionExpression": "attribute_not_exists(pk)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        for item in self.replaced_items:
            ops.append({"Put": {"TableName": table, "Item": aws.to_item(item)}})
        return ops

    def item_at(self, index: int) -> dict[str, Any] | None:
        """The item of request `index` (0 is the wallet) as a plain dict."""
        if index == 0:
            return wallet_item(self.wallet)
        index -= 1
        if index < len(self.new_items):
            return self.new_items[index]
        return self.replaced_items[index - len(self.new_items)]


def commit(change: Commit) -> None:
    """Write one Commit atomically. Raises TransactionCancelled (with per-item reasons) or Retryable."""
    if change.size() > MAX_TRANSACT_ITEMS:
        raise ValueError(f"a commit holds at most {MAX_TRANSACT_ITEMS} items, not {change.size()}")
    expected = change.wallet.version
    try:
        aws.ddb("transact_write_items", TransactItems=change.requests())
    except Exception:
        change.wallet.version = expected
        raise


# -- configuration ------------------------------------------------------------------------
def config_partition(partition: str, max_age: int = 0) -> dict[str, Any]:
    """sk -> decoded JSON value of one ConfigTable partition (cached for max_age seconds)."""
    raw = aws.config_values(partition, max_age=max_age, force_fetch=max_age == 0)
    return {sk: json.loads(value) for sk, value in raw.items()}


def put_config(pk: str, sk: str, value: Any, condition_new: bool = False) -> None:
    extra = {"ConditionExpression": "attribute_not_exists(pk)"} if condition_new else {}
    aws.ddb("put_item", TableName=config_table(),
            Item=aws.to_item({"pk": pk, "sk": sk, "value": json.dumps(value, sort_keys=True, default=str)}),
            **extra)

