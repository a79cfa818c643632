"""The whole billing service on this machine, derived from template.yaml (`make run`).

- moto's server on 127.0.0.1:$BILLING_AWS_PORT (4566) with every table and queue of the template;
- every function's environment as the template sets it, resolved to the local names;
- the HTTP API on 127.0.0.1:$BILLING_API_PORT (3000): the template's routes, its authorizer, payload 2.0,
  plus Swagger UI at /docs and the OpenAPI document at /openapi.json;
- each SQS event source mapping polled with its semantics, each ScheduleV2 fired at its times;
- plans, a demo account and its keys seeded; `.local/stack.json` written (CONTRACT section 4).

    python -m billing_local.stack [--api-port N] [--aws-port N] [--state-dir DIR] [--ready-file FILE]

Prints `READY <api_url>` when everything is up; SIGINT/SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from threading import Thread
from typing import Any

from billing_local.template import (
    LOCAL_REGION,
    REPO_ROOT,
    create_queues,
    create_tables,
    function_environment,
    functions,
    load_template,
)

log = logging.getLogger("billing_local")

HOST = "127.0.0.1"  # loopback only: the stack has dummy credentials and no TLS
API_BASE_PATH = "/api/v1/billing"  # CONTRACT section 2
DEFAULT_API_PORT = 3000
DEFAULT_AWS_PORT = 4566
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Function environment variables that only tune Powertools: not needed by billing-admin or boto3.
_FUNCTION_ONLY = ("POWERTOOLS_", "LOG_LEVEL")
_LOCAL_RUNTIME_ENV = {
    "AWS_REGION": LOCAL_REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
}


class StackError(Exception):
    """A reason the stack cannot start, told to the user as is."""


def check_port(port: int, what: str, variable: str) -> None:
    """StackError when the port cannot be bound (werkzeug would print its own message and exit)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise StackError(f"{what} port {port} on {HOST} is in use ({exc.strerror}): stop what uses it "
                             f"(another `make run`?) or choose another port with {variable}") from exc


def _make_server(port: int, app: Any, what: str) -> Any:
    from werkzeug.serving import make_server

    check_port(port, what, "BILLING_API_PORT")
    return make_server(HOST, port, app, threaded=True)


class LoopbackMotoServer:
    """moto's ThreadedMotoServer, bound in the caller's thread so a busy port is an error, not a hang."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        # ThreadedMotoServer.start() binds inside its thread and waits forever when the port is taken
        check_port(port, "AWS (moto)", "BILLING_AWS_PORT")
        self.server._server = make_server(HOST, port, DomainDispatcherApplication(create_backend_app), True,
                                          request_handler=MotoRequestHandler)

    def start(self) -> None:
        server = self.server._server
        self.server._thread = Thread(target=server.serve_forever, name="moto-server", daemon=True)
        self.server._thread.start()
        self.server._server_ready_event.set()

    def stop(self) -> None:
        if self.server._thread is not None:
            self.server.stop()
        else:
            self.server._server.server_close()


class LocalStack:
    def __init__(self, api_port: int, aws_port: int, state_dir: Path, template_path: Path | None = None) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.state_dir = state_dir
        self.template = load_template(template_path)
        self.stop_event = threading.Event()
        self.aws_endpoint = f"http://{HOST}:{aws_port}"
        self.api_url = f"http://{HOST}:{api_port}{API_BASE_PATH}"
        self.moto: LoopbackMotoServer | None = None
        self.http: Any = None
        self.threads: list[Thread] = []
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ start

    def start(self) -> dict[str, Any]:
        from billing_local.http_gateway import HttpGateway

        # bind both ports first: a busy port is reported before anything else happens
        self.moto = LoopbackMotoServer(self.aws_port)
        functions_by_id = self._functions()
        gateway = HttpGateway(self.template, functions_by_id)
        try:
            self.http = _make_server(self.api_port, gateway, "HTTP API")
        except StackError:
            self.moto.stop()
            raise
        self.moto.start()
        log.info("moto server on %s", self.aws_endpoint)

        base_env = self._aws_env()
        os.environ.update(base_env)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        ddb, sqs = self._client("dynamodb"), self._client("sqs")
        tables = create_tables(ddb, self.template)
        queues = create_queues(sqs, self.template)
        log.info("tables %s; queues %s", ", ".join(tables.values()), ", ".join(queues))

        function_env = self._function_environment({**tables, **queues})
        os.environ.update({**function_env, **_LOCAL_RUNTIME_ENV})
        from billing.settings import reset_settings

        reset_settings()
        from billing_local.demo import seed

        demo = seed(self.state_dir / "demo-keys.json")
        log.info("seeded plans %s and account %s", ", ".join(demo["plans"]), demo["account_id"])

        for fn in functions_by_id.values():
            try:
                fn.load()
            except Exception:  # noqa: BLE001 - reported at each invocation too, as Lambda's init error
                log.exception("%s cannot be imported; its invocations will fail", fn.info.logical_id)

        Thread(target=self.http.serve_forever, name="http-api", daemon=True).start()
        log.info("HTTP API on http://%s:%d (Swagger UI /docs)", HOST, self.api_port)
        self._start_pollers(sqs, queues, functions_by_id)
        self._start_schedules(sqs, queues, functions_by_id)

        cli_env = {k: v for k, v in function_env.items() if not k.startswith(_FUNCTION_ONLY)}
        self.info = {
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_endpoint,
            "region": LOCAL_REGION,
            "usage_queue_url": queues["UsageQueue"],
            "usage_dlq_url": queues["UsageDLQ"],
            "demo_account_id": demo["account_id"],
            "read_key": demo["read"]["api_key"],
            "write_key": demo["write"]["api_key"],
            "env": {**base_env, **cli_env, "USAGE_QUEUE_URL": queues["UsageQueue"]},
        }
        self._write_state()
        return self.info

    def _client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(service, region_name=LOCAL_REGION, endpoint_url=self.aws_endpoint)

    def _aws_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.aws_endpoint, "AWS_DEFAULT_REGION": LOCAL_REGION, **DUMMY_CREDENTIALS}

    def _functions(self) -> dict[str, Any]:
        from billing_local.lambda_runtime import LocalFunction

        return {lid: LocalFunction(info) for lid, info in functions(self.template).items()}

    def _function_environment(self, resolved: dict[str, str]) -> dict[str, str]:
        """The functions' environment variables, resolved. One process runs them all, so they must agree."""
        merged: dict[str, str] = {}
        for lid in functions(self.template):
            for name, value in function_environment(self.template, lid, resolved).items():
                if merged.get(name, value) != value:
                    log.warning("%s sets %s=%r but another function sets %r; the local stack runs all functions "
                                "in one process and keeps the first", lid, name, value, merged[name])
                    continue
                merged[name] = value
        return merged

    def _start_pollers(self, sqs: Any, queues: dict[str, str], functions_by_id: dict[str, Any]) -> None:
        from billing_local.sqs_poller import SqsPoller

        for lid, fn in functions_by_id.items():
            for event in fn.info.events:
                if event.type != "SQS":
                    continue
                poller = SqsPoller(self._client("sqs"), queues[event.queue], event, fn, self.stop_event)
                poller.start()
                self.threads.append(poller.thread)
                log.info("%s polls %s (batch %d, window %d s%s)", lid, event.queue, poller.batch_size,
                         poller.window, ", partial batch responses" if poller.partial else "")

    def _start_schedules(self, sqs: Any, queues: dict[str, str], functions_by_id: dict[str, Any]) -> None:
        from billing_local.schedules import Scheduler, schedule_of

        anchor = datetime.now(UTC)
        schedules = []
        for lid, fn in functions_by_id.items():
            for event in fn.info.events:
                if event.type not in ("ScheduleV2", "Schedule"):
                    continue
                if str(event.properties.get("State", "ENABLED")).upper() == "DISABLED" or event.properties.get(
                        "Enabled") is False:
                    continue
                dlq = ((event.properties.get("DeadLetterConfig") or {}).get("Arn") or {})
                dlq_url = queues.get(dlq["Fn::GetAtt"][0]) if isinstance(dlq, dict) and "Fn::GetAtt" in dlq else None
                schedules.append(schedule_of(lid, event, fn, anchor, dlq_url))
        if schedules:
            scheduler = Scheduler(schedules, self.stop_event, sqs=self._client("sqs"))
            scheduler.start()
            self.threads.append(scheduler.thread)

    def _write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "stack.json").write_text(json.dumps(self.info, indent=2) + "\n")
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.info["env"].items())
        (self.state_dir / "env.sh").write_text(exports)

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        self.stop_event.set()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        for thread in self.threads:
            thread.join(timeout=15)  # a batch being processed finishes first
        if self.moto is not None:
            self.moto.stop()


def quickstart(info: dict[str, Any], state_dir: Path) -> str:
    try:
        shown = state_dir.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = state_dir.resolve()
    cli = shlex.quote(str(Path(sys.executable).parent / "billing-admin"))
    try:
        cli = shlex.quote(str((Path(sys.executable).parent / "billing-admin").relative_to(Path.cwd())))
    except ValueError:
        pass
    host = info["api_url"].removesuffix(API_BASE_PATH)
    return "\n".join([
        "",
        "billing local stack is up",
        f"  API          {info['api_url']}   (Swagger UI {host}/docs)",
        f"  AWS (moto)   {info['aws_endpoint_url']}",
        f"  demo account {info['demo_account_id']}; keys and env in {shown}/stack.json",
        "",
        "  # balance (read key)",
        f"  curl -s -H 'Authorization: Bearer {info['read_key']}' {info['api_url']}/balance",
        "  # push a sample usage event (applied within the queue's batching window, about 20 s)",
        f"  (. {shown}/env.sh && {cli} demo push-usage --account {info['demo_account_id']})",
        "",
        "Ctrl-C stops the stack.",
        "",
    ])


def _port(value: str | None, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    try:
        port = int(value)
    except ValueError:
        raise StackError(f"{name}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise StackError(f"{name}={port} is not a port number")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billing_local.stack", description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", help="HTTP API port (default $BILLING_API_PORT or 3000)")
    parser.add_argument("--aws-port", help="moto server port (default $BILLING_AWS_PORT or 4566)")
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".local",
                        help="where stack.json, env.sh and the demo keys are kept (default .local/)")
    parser.add_argument("--ready-file", type=Path, help="written (with stack.json's content) once the stack is up")
    parser.add_argument("--template", type=Path, help="SAM template (default template.yaml)")
    args = parser.parse_args(argv)

    # Own handler, not the root's: Powertools filters the root handlers for records of loggers whose
    # name contains its service name ("billing"), which "billing_local" does.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [local] %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)

    stack: LocalStack | None = None
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            return
        log.info("%s: stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        api_port = _port(args.api_port or os.environ.get("BILLING_API_PORT"), DEFAULT_API_PORT, "BILLING_API_PORT")
        aws_port = _port(args.aws_port or os.environ.get("BILLING_AWS_PORT"), DEFAULT_AWS_PORT, "BILLING_AWS_PORT")
        if api_port == aws_port:
            raise StackError(f"the HTTP API and moto need two different ports (both are {api_port})")
        stack = LocalStack(api_port, aws_port, args.state_dir, args.template)
        info = stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if stack is not None:
            stack.stop()
        return 1
    except BaseException:
        if stack is not None:
            stack.stop()
        raise
    print(quickstart(info, args.state_dir), flush=True)
    if args.ready_file:
        args.ready_file.write_text(json.dumps(info))
    print(f"READY {info['api_url']}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        stack.stop()
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
