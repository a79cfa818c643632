"""Settings: one pydantic model read lazily from the environment (never at import)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    billing_table: str = Field(default="billing")
    config_table: str = Field(default="billing-config")
    idempotency_table: str = Field(default="billing-idempotency")
    usage_queue_url: str = ""
    usage_dlq_url: str = ""
    refresh_queue_url: str = ""
    cursor_secret: str = "local-dev-cursor-secret"
    cursor_ttl_seconds: int = 3600
    region: str = "us-east-1"
    pricing_cache_seconds: int = 60
    refresh_catchup_days: int = 7

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        values = {
            "billing_table": env.get("BILLING_TABLE"),
            "config_table": env.get("CONFIG_TABLE"),
            "idempotency_table": env.get("IDEMPOTENCY_TABLE"),
            "usage_queue_url": env.get("USAGE_QUEUE_URL"),
            "usage_dlq_url": env.get("USAGE_DLQ_URL"),
            "refresh_queue_url": env.get("REFRESH_QUEUE_URL"),
            "cursor_secret": env.get("CURSOR_SECRET"),
            "cursor_ttl_seconds": env.get("CURSOR_TTL_SECONDS"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "pricing_cache_seconds": env.get("PRICING_CACHE_SECONDS"),
            "refresh_catchup_days": env.get("REFRESH_CATCHUP_DAYS"),
        }
        return cls(**{k: v for k, v in values.items() if v not in (None, "")})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget cached settings and AWS clients (tests and the local stack change the environment)."""
    get_settings.cache_clear()
    from billing import aws

    aws.reset_clients()
