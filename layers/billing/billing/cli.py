"""billing-admin: the operator CLI (CONTRACT section 3).

Every command prints one JSON object on stdout; a failure prints a clear message on stderr and
exits non-zero, having written nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from billing.clock import parse
from billing.errors import BillingError
from billing.money import fmt, to_decimal


class UsageError(Exception):
    """Bad arguments: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _timestamp(text: str) -> datetime:
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"not an RFC 3339 timestamp with offset: {text!r}") from exc


def _amount(text: str) -> Decimal:
    try:
        return to_decimal(text)
    except ValueError as exc:
        raise UsageError(f"--amount: {exc}") from exc


# -- commands -----------------------------------------------------------------------------
def account_create(args: argparse.Namespace) -> dict[str, Any]:
    import secrets

    from billing import ledger

    account_id = args.account_id or "acct_" + secrets.token_hex(8)
    if not all(c.isalnum() or c in "._:@/+=-" for c in account_id) or len(account_id) > 128:
        raise UsageError("--account-id: 1-128 characters of [A-Za-z0-9._:@/+=-]")
    wallet, created = ledger.create_account(account_id, args.plan)
    return {"account_id": account_id, "plan_id": wallet.plan_id, "created": created,
            "net_balance": wallet.net()}


def key_create(args: argparse.Namespace) -> dict[str, Any]:
    from billing import apikeys

    scopes = apikeys.parse_scopes(args.scopes)
    api_key, key_id = apikeys.create_key(args.account, scopes)
    return {"api_key": api_key, "key_id": key_id, "account_id": args.account, "scopes": list(scopes)}


def key_revoke(args: argparse.Namespace) -> dict[str, Any]:
    from billing import apikeys

    return apikeys.revoke_key(args.key_id)


def credits_grant(args: argparse.Namespace) -> dict[str, Any]:
    from billing import ledger

    if args.bucket != "promotional":
        raise UsageError("--bucket: operators grant to the promotional bucket only")
    amount = _amount(args.amount)
    expires_at = _timestamp(args.expires_at) if args.expires_at else None
    lot_id, created = ledger.grant_promotional(args.account, amount, args.idempotency_key, expires_at)
    return {"lot_id": lot_id, "account_id": args.account, "bucket": "promotional", "amount": amount,
            "expires_at": expires_at, "created": created, "idempotency_key": args.idempotency_key}


def pricing_show(args: argparse.Namespace) -> dict[str, Any]:
    from billing import config

    versions = config.pricing_versions(max_age=0)
    current = config.current_rules(max_age=0)
    return {"current_version": current.version, "versions": sorted(versions),
            "rules": json.loads(current.to_json())}


def pricing_set(args: argparse.Namespace) -> dict[str, Any]:
    from billing import config, keys, store
    from billing.pricing import RuleSet

    try:
        raw = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read a JSON rule set from {args.file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError("a rule set is a JSON object with `rules` (and optionally `preview_daily_quota`)")
    version = max(config.pricing_versions(max_age=0), default=0) + 1
    rules = RuleSet.model_validate({**raw, "version": version})
    store.put_config(keys.PRICING_PK, keys.pricing_sk(version), json.loads(rules.to_json()), condition_new=True)
    return {"version": version, "rules": len(rules.rules)}


def plans_seed(args: argparse.Namespace) -> dict[str, Any]:
    from billing import keys, store
    from billing.plans import DEFAULT_PLANS, Plan

    if args.file:
        try:
            raw = json.loads(Path(args.file).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read a JSON plan list from {args.file}: {exc}") from exc
        plans = [Plan.model_validate(p) for p in raw]
    else:
        plans = DEFAULT_PLANS
    for plan in plans:
        store.put_config(keys.PLAN_PK, plan.plan_id, plan.model_dump(mode="json"))
    return {"plans": [p.plan_id for p in plans]}


def config_set(args: argparse.Namespace) -> dict[str, Any]:
    from billing import config, keys, store

    if args.name != "refunds_enabled":
        raise UsageError("known settings: refunds_enabled")
    if args.value not in ("true", "false"):
        raise UsageError("refunds_enabled takes true or false")
    switches = dict(config.switches(max_age=0))
    switches[args.name] = args.value == "true"
    store.put_config(keys.CONFIG_PK, "switches", switches)
    return {"switches": switches}


def refresh_run(args: argparse.Namespace) -> dict[str, Any]:
    from billing import scheduler
    from billing.clock import utcnow

    return scheduler.run_all(_timestamp(args.at) if args.at else utcnow())


def ledger_verify(args: argparse.Namespace) -> dict[str, Any]:
    from billing import verify

    accounts = [args.account] if args.account else None
    problems = verify.verify_all(accounts)
    checked = len(accounts) if accounts else len(verify.all_account_ids())
    result = {"accounts_checked": checked, "ok": not problems, "problems": problems}
    if problems:
        print(json.dumps(result, default=_json_default, sort_keys=True))
        count = sum(len(p) for p in problems.values())
        print(f"error: ledger verify found {count} difference(s) in {len(problems)} account(s): "
              + "; ".join(f"{a}: {p[0]}" for a, p in sorted(problems.items())), file=sys.stderr)
        raise SystemExit(1)
    return result


def demo_push_usage(args: argparse.Namespace) -> dict[str, Any]:
    """Send one sample usage event (the contract's shape) to the usage queue."""
    import secrets

    from billing import aws
    from billing.clock import utcnow
    from billing.settings import get_settings

    queue_url = args.queue_url or get_settings().usage_queue_url
    if not queue_url:
        raise UsageError("no usage queue: set USAGE_QUEUE_URL (the local stack's env has it) or pass --queue-url")
    event = {
        "schema_version": "1", "event_id": args.event_id or "evt_" + secrets.token_hex(8),
        "account_id": args.account, "kind": "usage", "occurred_at": utcnow().isoformat(),
        "task_id": args.task_id, "execution_id": args.execution_id, "action_type": args.action_type,
        "phase": "fetch", "step": 0, "attempt": 1, "urls": args.urls, "preview": False,
    }
    sent = aws.call("sqs", "send_message", QueueUrl=queue_url, MessageBody=json.dumps(event))
    return {"message_id": sent["MessageId"], "event": event}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="billing-admin", description="Operate the billing service.")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    account = groups.add_parser("account").add_subparsers(dest="command", required=True)
    p = account.add_parser("create")
    p.add_argument("--account-id")
    p.add_argument("--plan", default="free")
    p.set_defaults(func=account_create)

    key = groups.add_parser("key").add_subparsers(dest="command", required=True)
    p = key.add_parser("create")
    p.add_argument("--account", required=True)
    p.add_argument("--scopes", required=True)
    p.set_defaults(func=key_create)
    p = key.add_parser("revoke")
    p.add_argument("--key-id", required=True)
    p.set_defaults(func=key_revoke)

    credits = groups.add_parser("credits").add_subparsers(dest="command", required=True)
    p = credits.add_parser("grant")
    p.add_argument("--account", required=True)
    p.add_argument("--amount", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--expires-at")
    p.add_argument("--idempotency-key", required=True)
    p.set_defaults(func=credits_grant)

    pricing = groups.add_parser("pricing").add_subparsers(dest="command", required=True)
    pricing.add_parser("show").set_defaults(func=pricing_show)
    p = pricing.add_parser("set")
    p.add_argument("file")
    p.set_defaults(func=pricing_set)

    plans = groups.add_parser("plans").add_subparsers(dest="command", required=True)
    p = plans.add_parser("seed", help="store the plan catalogue (the shipped one, or a JSON list from FILE)")
    p.add_argument("--file")
    p.set_defaults(func=plans_seed)

    cfg = groups.add_parser("config").add_subparsers(dest="command", required=True)
    p = cfg.add_parser("set")
    p.add_argument("name")
    p.add_argument("value")
    p.set_defaults(func=config_set)

    refresh = groups.add_parser("refresh").add_subparsers(dest="command", required=True)
    p = refresh.add_parser("run")
    p.add_argument("--at")
    p.set_defaults(func=refresh_run)

    ledger_group = groups.add_parser("ledger").add_subparsers(dest="command", required=True)
    p = ledger_group.add_parser("verify")
    p.add_argument("--account")
    p.set_defaults(func=ledger_verify)
    demo = groups.add_parser("demo").add_subparsers(dest="command", required=True)
    p = demo.add_parser("push-usage", help="send a sample usage event to the usage queue")
    p.add_argument("--account", required=True)
    p.add_argument("--action-type", default="scrape", choices=["search", "crawl", "scrape", "api_call"])
    p.add_argument("--urls", type=int, default=5)
    p.add_argument("--task-id", default="task_demo")
    p.add_argument("--execution-id", default="exec_demo")
    p.add_argument("--event-id")
    p.add_argument("--queue-url")
    p.set_defaults(func=demo_push_usage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        result = args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid input: {problems}", file=sys.stderr)
        return 2
    except BillingError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, default=_json_default, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
