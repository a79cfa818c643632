"""Count every DynamoDB request of the domain's client and bill it as DynamoDB would.

Installed as botocore event hooks (before-call / after-call) on billing.aws.client("dynamodb"),
the one client the domain uses. A shadow copy of every item written (by table and key) gives the
"before" image an overwrite bills and the GSI entries it replaces; the meter is installed before
any item is written, so the shadow is complete.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.sizing import TableSpec, index_write_units, item_size, read_units, write_units

AGGREGATE_KINDS = {"X#": "aggregate: execution", "T#": "aggregate: task", "M#": "aggregate: month statement",
                   "V#": "activity"}


def item_kind(table: str, item: dict[str, Any]) -> str:
    if table == "IdempotencyTable":
        return "idempotency record"
    if table != "BillingTable":
        return f"{table} item"
    sk = item.get("sk", {}).get("S", "")
    if sk == "W":
        return "wallet"
    if sk.startswith("E#"):
        return "ledger entry (lines)"
    if sk.startswith("R#"):
        return "refund mark"
    return AGGREGATE_KINDS.get(sk[:2], "other")


@dataclass
class Tally:
    """Units and requests, by item kind and by partition."""

    wru: Counter[str] = field(default_factory=Counter)  # by kind (table units) and "index: <name>"
    wru_failed: int = 0  # units of cancelled transactions and failed conditional writes
    rru: Counter[str] = field(default_factory=Counter)  # by operation
    calls: Counter[str] = field(default_factory=Counter)
    items_written: Counter[str] = field(default_factory=Counter)
    items_read: int = 0  # items a read request evaluated (Query/Scan: ScannedCount)
    partition_wru: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table|index, partition) -> units
    wallet_writes: Counter[str] = field(default_factory=Counter)  # pk -> wallet write requests
    cancelled: int = 0

    @property
    def total_wru(self) -> int:
        return sum(self.wru.values())

    @property
    def total_rru(self) -> float:
        return sum(self.rru.values())

    def as_dict(self) -> dict[str, Any]:
        return {"wru_total": self.total_wru, "wru_by_kind": dict(self.wru), "wru_failed": self.wru_failed,
                "rru_total": self.total_rru, "rru_by_operation": dict(self.rru), "calls": dict(self.calls),
                "items_written": dict(self.items_written), "items_read": self.items_read,
                "cancelled_transactions": self.cancelled}


class Meter:
    def __init__(self, specs: dict[str, TableSpec], table_names: dict[str, str]) -> None:
        self.specs = specs
        self.logical = {name: lid for lid, name in table_names.items()}  # physical name -> logical id
        self.shadow: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        self.tally = Tally()
        self._clients: list[Any] = []

    # -- wiring ---------------------------------------------------------------------------
    def install(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        self._clients.append(client)

    def uninstall(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", self._before)
            client.meta.events.unregister("after-call.dynamodb", self._after)
        self._clients = []

    def reset(self) -> Tally:
        done, self.tally = self.tally, Tally()
        return done

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        params = context.pop("bench_params", None)
        if params is None:
            return
        op = model.name
        self.tally.calls[op] += 1
        failed = "Error" in parsed
        code = parsed.get("Error", {}).get("Code", "")
        if failed and code not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            return  # throttled or invalid: not billed
        handler = getattr(self, f"_on_{op}", None)
        if handler is not None:
            handler(params, parsed, failed)

    # -- writes ---------------------------------------------------------------------------
    def _spec(self, table: str) -> TableSpec | None:
        lid = self.logical.get(table)
        return self.specs.get(lid) if lid else None

    def _write(self, table: str, new: dict[str, Any] | None, key: dict[str, Any] | None, transactional: bool,
               applied: bool, check_only: bool = False) -> None:
        spec = self._spec(table)
        if spec is None:
            return
        lid = spec.logical_id
        key_item = new if new is not None else key
        assert key_item is not None
        shadow_key = (lid, spec.key_of(key_item))
        old = self.shadow.get(shadow_key)
        size = max(item_size(old), 0 if check_only else item_size(new))
        units = write_units(size) * (2 if transactional else 1)
        kind = item_kind(lid, key_item)
        partition = str(key_item[spec.keys[0]])
        self.tally.wru[kind] += units
        self.tally.partition_wru[(lid, partition)] += units
        if kind == "wallet" and not check_only:
            self.tally.wallet_writes[partition] += 1
        if not applied:
            self.tally.wru_failed += units
            return
        if check_only:
            return
        self.tally.items_written[kind] += 1
        for index in spec.indexes:
            gsi = index_write_units(index, spec.keys, old, new)
            if gsi:
                self.tally.wru[f"index entry: {index.name}"] += gsi
                ikey = index.key_of(new) or index.key_of(old)
                self.tally.partition_wru[(f"{lid}/{index.name}", ikey[0] if ikey else "")] += gsi
        if new is None:
            self.shadow.pop(shadow_key, None)
        else:
            self.shadow[shadow_key] = new

    def _on_PutItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        self._write(params["TableName"], params["Item"], None, False, not failed)

    def _on_DeleteItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        self._write(params["TableName"], None, params["Key"], False, not failed)

    def _on_UpdateItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        # The after-image is the stored item: only known when the caller asked for ALL_NEW.
        spec = self._spec(params["TableName"])
        after = parsed.get("Attributes") if params.get("ReturnValues") == "ALL_NEW" else None
        if spec is None:
            return
        old = self.shadow.get((spec.logical_id, spec.key_of(params["Key"])))
        self._write(params["TableName"], after or old or params["Key"], params["Key"], False, not failed)

    def _on_BatchWriteItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        unprocessed = parsed.get("UnprocessedItems") or {}
        for table, requests in params["RequestItems"].items():
            skipped = unprocessed.get(table, [])
            for request in requests:
                if request in skipped:
                    continue
                if "PutRequest" in request:
                    self._write(table, request["PutRequest"]["Item"], None, False, True)
                else:
                    self._write(table, None, request["DeleteRequest"]["Key"], False, True)

    def _on_TransactWriteItems(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        if failed:
            self.tally.cancelled += 1
        for action in params["TransactItems"]:
            ((op, spec),) = action.items()
            if op == "Put":
                self._write(spec["TableName"], spec["Item"], None, True, not failed)
            elif op == "Delete":
                self._write(spec["TableName"], None, spec["Key"], True, not failed)
            elif op == "ConditionCheck":
                # a check bills like a write of the item and changes nothing
                self._write(spec["TableName"], None, spec["Key"], True, not failed, check_only=True)
            elif op == "Update":
                table = self._spec(spec["TableName"])
                old = self.shadow.get((table.logical_id, table.key_of(spec["Key"]))) if table else None
                self._write(spec["TableName"], old or spec["Key"], spec["Key"], True, not failed)

    # -- reads ----------------------------------------------------------------------------
    def _on_GetItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        self.tally.rru["GetItem"] += read_units(item_size(parsed.get("Item")), bool(params.get("ConsistentRead")))
        self.tally.items_read += 1

    def _on_BatchGetItem(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        unprocessed = parsed.get("UnprocessedKeys") or {}
        for table, request in params["RequestItems"].items():
            spec = self._spec(table)
            consistent = bool(request.get("ConsistentRead"))
            found = {spec.key_of(i): i for i in parsed.get("Responses", {}).get(table, [])} if spec else {}
            skipped = unprocessed.get(table, {}).get("Keys", [])
            for key in request["Keys"]:
                if key in skipped or spec is None:
                    continue
                self.tally.rru["BatchGetItem"] += read_units(item_size(found.get(spec.key_of(key))), consistent)
                self.tally.items_read += 1

    def _on_Query(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        items = parsed.get("Items", [])
        size = sum(item_size(i) for i in items)
        scanned = parsed.get("ScannedCount", len(items))
        if scanned > len(items) and items:  # filtered out: assume the average size of what came back
            size = size * scanned // len(items)
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        self.tally.rru[f"{model_name('Query', params)}"] += read_units(size, consistent)
        self.tally.items_read += scanned

    _on_Scan = _on_Query

    def _on_TransactGetItems(self, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        for response in parsed.get("Responses", []):
            self.tally.rru["TransactGetItems"] += 2 * read_units(item_size(response.get("Item")), True)
            self.tally.items_read += 1


def model_name(op: str, params: dict[str, Any]) -> str:
    return f"{op} {params['IndexName']}" if "IndexName" in params else op


def per_account(tally: Tally) -> dict[str, dict[str, float]]:
    """Table units per account partition and units per index partition (for the hot-partition figure)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (where, partition), units in tally.partition_wru.items():
        out[where][partition] = units
    return out
