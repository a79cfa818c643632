"""Pricing rules: operator-configured, versioned, pure (no I/O here).

A rule set is an ordered list of rules; the first rule whose every given condition matches
prices the event. Previews are free up to a daily quota of credits per account, charged after.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing.events import ActionType, UsageEvent
from billing.money import ZERO, quantize, to_decimal


class PricingError(ValueError):
    pass


class RuleMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_type: ActionType | None = None
    phase: str | None = None
    step_min: Annotated[int, Field(ge=0)] | None = None
    step_max: Annotated[int, Field(ge=0)] | None = None
    attempt_min: Annotated[int, Field(ge=1)] | None = None
    attempt_max: Annotated[int, Field(ge=1)] | None = None
    preview: bool | None = None
    url_host: str | None = None  # "example.com" matches that host; "*.example.com" its subdomains too

    def matches(self, event: UsageEvent) -> bool:
        checks = (
            self.action_type is None or self.action_type == event.action_type,
            self.phase is None or self.phase == event.phase,
            self.step_min is None or event.step >= self.step_min,
            self.step_max is None or event.step <= self.step_max,
            self.attempt_min is None or event.attempt >= self.attempt_min,
            self.attempt_max is None or event.attempt <= self.attempt_max,
            self.preview is None or self.preview == event.preview,
            self.url_host is None or _host_matches(self.url_host, event.url),
        )
        return all(checks)


def _host_matches(pattern: str, url: str | None) -> bool:
    if not url:
        return False
    from urllib.parse import urlsplit

    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host == pattern[2:] or host.endswith(pattern[1:])
    return host == pattern


class PricingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64)]
    match: RuleMatch = Field(default_factory=RuleMatch)
    unit: Literal["url", "call"]
    rate: Decimal

    @field_validator("rate", mode="before")
    @classmethod
    def _exact_rate(cls, value: object) -> Decimal:
        rate = to_decimal(value)
        if rate < 0:
            raise ValueError("rate must be >= 0")
        return rate


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 0
    preview_daily_quota: Decimal = Decimal("10")
    rules: list[PricingRule]

    @field_validator("preview_daily_quota", mode="before")
    @classmethod
    def _exact_quota(cls, value: object) -> Decimal:
        quota = to_decimal(value)
        if quota < 0:
            raise ValueError("preview_daily_quota must be >= 0")
        return quota

    @model_validator(mode="after")
    def _covers_every_action(self) -> RuleSet:
        if not self.rules:
            raise ValueError("a rule set needs at least one rule")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        for action in ("search", "crawl", "scrape", "api_call"):
            if not any(r.match.action_type in (None, action) and _is_catch_all(r.match) for r in self.rules):
                raise ValueError(f"no catch-all rule prices action_type={action}")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _is_catch_all(match: RuleMatch) -> bool:
    return all(
        getattr(match, f) is None
        for f in ("phase", "step_min", "step_max", "attempt_min", "attempt_max", "preview", "url_host")
    )


class Price(BaseModel):
    """What one event costs and why; stored on its ledger entry."""

    amount: Decimal
    pricing_version: int
    rule_id: str
    unit: str
    units: int
    rate: Decimal
    gross: Decimal
    preview_free: Decimal

    def breakdown(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "unit": self.unit,
            "units": self.units,
            "rate": self.rate,
            "gross": self.gross,
            "preview_free": self.preview_free,
            "amount": self.amount,
        }


def price(rules: RuleSet, event: UsageEvent, preview_used_today: Decimal = ZERO) -> Price:
    """Price one usage event. `preview_used_today`: free preview credits already used this UTC day."""
    for rule in rules.rules:
        if rule.match.matches(event):
            break
    else:  # unreachable for a validated rule set; kept so a bad stored set fails loudly
        raise PricingError(f"no pricing rule matches action_type={event.action_type}")
    units = event.urls if rule.unit == "url" else 1
    gross = quantize(rule.rate * units)
    preview_free = ZERO
    if event.preview:
        preview_free = max(ZERO, min(gross, rules.preview_daily_quota - preview_used_today))
    return Price(
        amount=quantize(gross - preview_free),
        pricing_version=rules.version,
        rule_id=rule.id,
        unit=rule.unit,
        units=units,
        rate=rule.rate,
        gross=gross,
        preview_free=preview_free,
    )


DEFAULT_RULES = RuleSet.model_validate(
    {
        "version": 0,
        "preview_daily_quota": "10",
        "rules": [
            {"id": "search-retry", "match": {"action_type": "search", "attempt_min": 2}, "unit": "call", "rate": "1"},
            {"id": "search", "match": {"action_type": "search"}, "unit": "call", "rate": "2"},
            {"id": "crawl-retry", "match": {"action_type": "crawl", "attempt_min": 2}, "unit": "url", "rate": "0.5"},
            {"id": "crawl", "match": {"action_type": "crawl"}, "unit": "url", "rate": "1"},
            {"id": "scrape-retry", "match": {"action_type": "scrape", "attempt_min": 2}, "unit": "url", "rate": "0.5"},
            {"id": "scrape", "match": {"action_type": "scrape"}, "unit": "url", "rate": "1"},
            {"id": "api_call-retry", "match": {"action_type": "api_call", "attempt_min": 2}, "unit": "call",
             "rate": "0.5"},
            {"id": "api_call", "match": {"action_type": "api_call"}, "unit": "call", "rate": "1"},
        ],
    }
)
