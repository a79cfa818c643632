"""Key layout of the BillingTable and ConfigTable (see docs/DESIGN.md). Pure string building."""

from __future__ import annotations

WALLET = "W"
ENTRY = "E#"
REFUND_MARK = "R#"
EXECUTION = "X#"
TASK = "T#"
MONTH = "M#"
ACTIVITY = "V#"


def account_pk(account_id: str) -> str:
    return f"A#{account_id}"


def entry_sk(entry_key: str) -> str:
    return f"{ENTRY}{entry_key}"


def event_entry_key(event_id: str) -> str:
    return f"evt:{event_id}"


def refund_mark_sk(usage_event_id: str) -> str:
    return f"{REFUND_MARK}{usage_event_id}"


def execution_sk(execution_id: str) -> str:
    return f"{EXECUTION}{execution_id}"


def task_sk(task_id: str) -> str:
    return f"{TASK}{task_id}"


def month_sk(month: str) -> str:
    return f"{MONTH}{month}"


def activity_sk(recorded_at: str, kind: str, ident: str) -> str:
    return f"{ACTIVITY}{recorded_at}#{kind}#{ident}"


def usage_activity_sk(day: str, execution_id: str) -> str:
    """Usage is grouped per execution per UTC day: one activity item, found again by its key."""
    return f"{ACTIVITY}{day}#U#{execution_id}"


def time_index_pk(account_id: str) -> str:
    return account_pk(account_id)


def execution_index_pk(account_id: str, execution_id: str) -> str:
    return f"A#{account_id}#X#{execution_id}"


def task_index_pk(account_id: str, task_id: str) -> str:
    return f"A#{account_id}#T#{task_id}"


ACCOUNT_SHARDS = 16


def account_index_pk(account_id: str) -> str:
    """The wallet's shard in the sparse Accounts index (stable: derived from the id)."""
    import hashlib

    return f"ACCOUNTS#{int(hashlib.sha256(account_id.encode()).hexdigest()[:8], 16) % ACCOUNT_SHARDS:02d}"


def account_shard_pk(shard: int) -> str:
    return f"ACCOUNTS#{shard:02d}"


def time_sort_key(recorded_at: str, entry_id: str) -> str:
    return f"{recorded_at}#{entry_id}"


# ConfigTable
PLAN_PK = "PLAN"
PRICING_PK = "PRICING"
CONFIG_PK = "CONFIG"


def pricing_sk(version: int) -> str:
    return f"v{version:06d}"


def api_key_pk(key_hash: str) -> str:
    return f"KEY#{key_hash}"


def key_id_pk(key_id: str) -> str:
    return f"KEYID#{key_id}"
