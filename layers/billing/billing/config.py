"""Operator configuration read from the ConfigTable: pricing rule sets, plans, switches.

Reads go through Powertools Parameters (billing.aws.config_values) with a short cache, so a
consumer batch does not re-read the rules for every record.
"""

from __future__ import annotations

from billing import keys, store
from billing.plans import DEFAULT_PLANS, Plan
from billing.pricing import DEFAULT_RULES, RuleSet
from billing.settings import get_settings


def pricing_versions(max_age: int | None = None) -> dict[int, RuleSet]:
    age = get_settings().pricing_cache_seconds if max_age is None else max_age
    stored = store.config_partition(keys.PRICING_PK, max_age=age)
    return {RuleSet.model_validate(v).version: RuleSet.model_validate(v) for v in stored.values()}


def current_rules(max_age: int | None = None) -> RuleSet:
    """The newest stored rule set; the shipped defaults (version 0) until an operator sets one."""
    versions = pricing_versions(max_age)
    return versions[max(versions)] if versions else DEFAULT_RULES


def plans(max_age: int | None = None) -> dict[str, Plan]:
    age = get_settings().pricing_cache_seconds if max_age is None else max_age
    stored = store.config_partition(keys.PLAN_PK, max_age=age)
    catalogue = {p.plan_id: p for p in (Plan.model_validate(v) for v in stored.values())}
    return catalogue or {p.plan_id: p for p in DEFAULT_PLANS}


def switches(max_age: int | None = None) -> dict[str, object]:
    age = get_settings().pricing_cache_seconds if max_age is None else max_age
    return store.config_partition(keys.CONFIG_PK, max_age=age).get("switches", {})


def refunds_enabled(max_age: int | None = None) -> bool:
    return bool(switches(max_age).get("refunds_enabled", True))
