"""Pricing rules, without AWS."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.events import UsageEvent
from billing.pricing import DEFAULT_RULES, RuleSet, price
from tests.helpers import usage


def event(**fields) -> UsageEvent:
    return UsageEvent.model_validate_json(json.dumps(usage("e1", **fields)))


@pytest.mark.parametrize(("fields", "amount", "rule"), [
    ({"action_type": "scrape", "urls": 12}, "12", "scrape"),
    ({"action_type": "crawl", "urls": 3}, "3", "crawl"),
    ({"action_type": "search", "urls": 0}, "2", "search"),
    ({"action_type": "api_call", "urls": 5}, "1", "api_call"),
    ({"action_type": "scrape", "urls": 12, "attempt": 2}, "6", "scrape-retry"),
    ({"action_type": "search", "attempt": 3}, "1", "search-retry"),
    ({"action_type": "scrape", "urls": 0}, "0", "scrape"),
])
def test_default_rules_price_each_action(fields, amount, rule):
    quote = price(DEFAULT_RULES, event(**fields))
    assert quote.amount == Decimal(amount) and quote.rule_id == rule and quote.pricing_version == 0


def test_previews_are_free_up_to_the_daily_quota_then_charged():
    first = price(DEFAULT_RULES, event(urls=8, preview=True), preview_used_today=Decimal(0))
    second = price(DEFAULT_RULES, event(urls=8, preview=True), preview_used_today=first.preview_free)
    assert (first.amount, first.preview_free) == (Decimal(0), Decimal(8))
    assert (second.amount, second.preview_free) == (Decimal(6), Decimal(2))


def test_first_matching_rule_wins_and_host_patterns_match_subdomains():
    rules = RuleSet.model_validate({"version": 7, "rules": [
        {"id": "premium", "match": {"action_type": "scrape", "url_host": "*.example.com"}, "unit": "url",
         "rate": "2.5"},
        {"id": "render", "match": {"phase": "render"}, "unit": "call", "rate": "0.125"},
        {"id": "all", "unit": "url", "rate": "1"},
    ]})
    assert price(rules, event(urls=2, url="https://shop.example.com/x")).amount == Decimal("5")
    assert price(rules, event(urls=2, url="https://example.org/x")).rule_id == "all"
    assert price(rules, event(urls=2, phase="render")).amount == Decimal("0.125")
    assert price(rules, event(urls=2, url="https://example.com")).pricing_version == 7


@pytest.mark.parametrize("bad", [
    {"rules": []},
    {"rules": [{"id": "a", "match": {"action_type": "scrape"}, "unit": "url", "rate": "1"}]},  # no catch-all
    {"rules": [{"id": "a", "unit": "url", "rate": "-1"}]},
    {"rules": [{"id": "a", "unit": "url", "rate": 0.1}]},  # float
    {"rules": [{"id": "a", "unit": "url", "rate": "0.0000001"}]},  # more than 6 decimals
    {"rules": [{"id": "a", "unit": "url", "rate": "1"}, {"id": "a", "unit": "url", "rate": "1"}]},
    {"rules": [{"id": "a", "unit": "byte", "rate": "1"}]},
])
def test_invalid_rule_sets_are_refused(bad):
    with pytest.raises(ValidationError):
        RuleSet.model_validate(bad)
