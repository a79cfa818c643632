"""How many items a filtered ledger page and a spend summary read on a 10,000-line ledger (counted)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from apisupport import call

from billing import aws, store
from billing.wallet import Entry, Line

LINES = 10_000
EXECUTIONS = 100  # 100 entries of one line each per execution


class ReadCounter:
    """botocore hooks on the shared DynamoDB client: requests, items returned and items scanned."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.returned = 0
        self.scanned = 0

    def __call__(self, http_response, parsed, model, **kwargs) -> None:
        self.requests.append(model.name)
        if model.name in ("Query", "Scan"):
            self.returned += parsed.get("Count", 0)
            self.scanned += parsed.get("ScannedCount", 0)
        elif model.name == "GetItem":
            if parsed.get("Item", {}).get("pk", {}).get("S", "").startswith("KEY#"):
                self.requests.pop()  # the authorizer's API-key lookup (ConfigTable), not a billing read
                return
            self.returned += 1 if parsed.get("Item") else 0
            self.scanned += 1
        elif model.name == "BatchGetItem":
            got = sum(len(v) for v in parsed.get("Responses", {}).values())
            self.returned += got
            self.scanned += got

    def reset(self) -> None:
        self.requests, self.returned, self.scanned = [], 0, 0


@pytest.fixture
def big_ledger(acct, api):
    """10,000 usage lines written straight into the table (batch_write_item: moto's transactions are slow)."""
    account = acct.account_id
    items = []
    balance = Decimal(1_000_000)
    for n in range(LINES):
        execution = f"exec_{n % EXECUTIONS:03d}"
        entry_id = f"en_bulk_{n:06d}"
        balance -= 1
        entry = Entry(
            key=f"evt:bulk-{n}", entry_id=entry_id, kind="usage",
            recorded_at=f"2026-11-{1 + n // 1000:02d}T00:00:{(n % 1000) // 100:02d}.{n:06d}Z",
            occurred_at="2026-11-01T00:00:00.000000Z",
            lines=[Line(id=f"{entry_id}.0", direction="debit", amount=Decimal(1), reason_code="usage.scrape",
                        bucket="monthly_plan", lot_id="lot_bulk", balance_after=balance)],
            attrs={"event_id": f"bulk-{n}", "task_id": f"task_{n % 10}", "execution_id": execution,
                   "action_type": "scrape", "pricing_version": 0},
        )
        items.append(store.entry_item(account, entry))
    items.append({"pk": f"A#{account}", "sk": "X#exec_007", "kind": "execution", "execution_id": "exec_007",
                  "task_id": "task_7", "total_debited": Decimal(100), "total_refunded": Decimal(0),
                  "net": Decimal(100), "event_count": 100, "by_action_type": {"scrape": Decimal(100)},
                  "by_reason_code": {"usage.scrape": Decimal(100)}, "first_at": "2026-11-01T00:00:00.000000Z",
                  "last_at": "2026-11-01T00:00:00.000000Z"})
    client = aws.client("dynamodb")
    for start in range(0, len(items), 25):
        request = {store.billing_table(): [{"PutRequest": {"Item": aws.to_item(i)}} for i in items[start:start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    counter = ReadCounter()
    client.meta.events.register("after-call.dynamodb", counter)
    yield acct, counter
    client.meta.events.unregister("after-call.dynamodb", counter)


@pytest.mark.corrupts_ledger  # 10,000 synthetic lines are bulk-written without their balances
def test_items_read_for_a_filtered_ledger_page_and_a_spend_summary(big_ledger, capsys):
    acct, counter = big_ledger

    counter.reset()
    page = call("ledger", acct.read_key, query={"execution_id": "exec_007", "limit": 50})
    assert page.status == 200 and len(page.body["data"]) == 50 and page.body["has_more"] is True
    assert {line["execution_id"] for line in page.body["data"]} == {"exec_007"}
    ledger_reads = (counter.requests.count("Query"), counter.scanned)
    assert ledger_reads == (1, 51)  # one Query of the ByExecution index: the page and one more to know has_more

    second = call("ledger", acct.read_key, query={"execution_id": "exec_007", "limit": 50,
                                                  "cursor": page.body["next_cursor"]})
    ids = [line["id"] for line in page.body["data"] + second.body["data"]]
    assert len(ids) == len(set(ids)) == 100 and second.body["has_more"] is False

    counter.reset()
    summary = call("execution_spend", acct.read_key, path={"execution_id": "exec_007"})
    assert summary.status == 200 and summary.body["total_debited"] == "100"
    spend_reads = (counter.requests, counter.scanned)
    assert spend_reads == (["GetItem"], 1)

    counter.reset()
    unfiltered = call("ledger", acct.read_key, query={"limit": 50})
    assert len(unfiltered.body["data"]) == 50
    plain_reads = counter.scanned
    assert plain_reads == 51

    with capsys.disabled():
        print(f"\n10,000-line ledger: filtered ledger page (execution_id, limit 50) read {ledger_reads[1]} items in "
              f"{ledger_reads[0]} Query; unfiltered page read {plain_reads}; spend summary read "
              f"{spend_reads[1]} item ({spend_reads[0]})")
