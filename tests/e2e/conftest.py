"""The local stack (`python -m billing_local.stack`) as a subprocess on free loopback ports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from localstack_support import ROOT, free_port, stack_env

START_TIMEOUT = 60


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running local stack; yields its stack.json (plus `log`, the path of its console output)."""
    state = tmp_path_factory.mktemp("local-stack")
    ready = state / "ready"
    log_path = state / "console.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "billing_local.stack", "--state-dir", str(state), "--ready-file", str(ready)],
            cwd=ROOT, env=stack_env(free_port(), free_port()), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"local stack did not start (exit {process.poll()}):\n{log_path.read_text()[-4000:]}")
                time.sleep(0.2)
            info = json.loads((state / "stack.json").read_text())
            yield {**info, "log": log_path, "state_dir": state}
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
