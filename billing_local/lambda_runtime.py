"""Run a template's function in this process the way Lambda runs it.

Each function's `app.py` is imported by path under a unique module name (every function module
is called `app`), is invoked one event at a time (one execution environment per function, as
with a reserved concurrency of 1) and gets a context object with the function's name, memory
and a remaining-time budget from its `Timeout`. An invocation that outlives its budget is
reported as Lambda reports it: "Task timed out", and it counts as failed.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from billing_local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, FunctionInfo

log = logging.getLogger("billing_local")


class InvocationError(Exception):
    """The function raised or timed out: what Lambda reports as a function error."""

    def __init__(self, function_name: str, error_type: str, message: str) -> None:
        super().__init__(f"{function_name}: {error_type}: {message}")
        self.error_type = error_type
        self.error_message = message


@dataclass
class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function of the template, loaded once, invoked like Lambda invokes it."""

    def __init__(self, info: FunctionInfo, function_name: str | None = None) -> None:
        self.info = info
        self.name = function_name or f"billing-local-{info.logical_id}"
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self._handler: Any = None

    def load(self) -> None:
        """Import the handler module (Lambda's init phase). Raises if it cannot be imported."""
        if self._handler is not None:
            return
        path = self.info.module_path
        module_name = f"billing_local_fn_{self.info.logical_id}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{self.info.logical_id}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses/pydantic look their module up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        handler = getattr(module, self.info.handler_name, None)
        if not callable(handler):
            raise ImportError(f"{self.info.logical_id}: {path} has no callable {self.info.handler_name}")
        self._module, self._handler = module, handler

    def invoke(self, event: Any) -> Any:
        """Call the handler with `event` and a fresh context; InvocationError when it fails."""
        try:
            self.load()
        except Exception as exc:  # Lambda's init error: every invocation fails until the code is fixed
            log.error("%s cannot be imported: %s: %s", self.info.logical_id, type(exc).__name__, exc)
            raise InvocationError(self.name, "Runtime.ImportModuleError", str(exc)) from exc
        with self._lock:
            context = LambdaContext(self.name, self.info.memory_size, self.info.timeout)
            started = time.monotonic()
            try:
                result = self._handler(event, context)
            except Exception as exc:
                log.error("%s failed (request %s):\n%s", self.info.logical_id, context.aws_request_id,
                          traceback.format_exc().rstrip())
                raise InvocationError(self.name, type(exc).__name__, str(exc)) from exc
            elapsed = time.monotonic() - started
            if elapsed > self.info.timeout:
                message = f"Task timed out after {elapsed:.2f} seconds (Timeout {self.info.timeout} s)"
                log.error("%s %s (request %s)", self.info.logical_id, message, context.aws_request_id)
                raise InvocationError(self.name, "Sandbox.Timedout", message)
            return result
