"""Plan catalogue: what a subscription grants each day and each month."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from billing.money import to_decimal


class Rollover(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    min_rollover: Decimal = Decimal("0")
    max_rollover: Decimal = Decimal("0")

    @field_validator("min_rollover", "max_rollover", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return to_decimal(value)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
    name: str
    monthly_credits: Decimal
    daily_free_credits: Decimal
    price_cents: Annotated[int, Field(ge=0)]
    currency: str = "USD"
    rollover: Rollover = Field(default_factory=Rollover)

    @field_validator("monthly_credits", "daily_free_credits", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        amount = to_decimal(value)
        if amount < 0:
            raise ValueError("credits must be >= 0")
        return amount


DEFAULT_PLAN_ID = "free"

DEFAULT_PLANS = [
    Plan(plan_id="free", name="Free", monthly_credits=Decimal("2000"), daily_free_credits=Decimal("100"),
         price_cents=0),
    Plan(plan_id="starter", name="Starter", monthly_credits=Decimal("50000"), daily_free_credits=Decimal("100"),
         price_cents=4900,
         rollover=Rollover(enabled=True, min_rollover=Decimal("0"), max_rollover=Decimal("10000"))),
    Plan(plan_id="pro", name="Pro", monthly_credits=Decimal("250000"), daily_free_credits=Decimal("200"),
         price_cents=19900,
         rollover=Rollover(enabled=True, min_rollover=Decimal("1000"), max_rollover=Decimal("50000"))),
]
