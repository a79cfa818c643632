"""Helpers of the local stack's end-to-end tests: free loopback ports and the stack's environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(api_port: int, aws_port: int) -> dict[str, str]:
    """This environment less any AWS or billing setting, with the stack's ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BILLING_"))}
    env.update(BILLING_API_PORT=str(api_port), BILLING_AWS_PORT=str(aws_port), PYTHONUNBUFFERED="1")
    return env
