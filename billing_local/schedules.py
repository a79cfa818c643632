"""EventBridge Scheduler, emulated: the template's ScheduleV2 events fire their functions on time.

Expressions: `cron(min hour day-of-month month day-of-week year)` (AWS's six fields, `?`, ranges,
lists, steps, JAN-DEC and SUN-SAT = 1-7; `L`, `W` and `#` are not emulated), `rate(n unit)`
(from the start of the local stack) and `at(yyyy-mm-ddThh:mm:ss)`, in `ScheduleExpressionTimezone`
(UTC by default). The Input has its context attributes substituted as Scheduler does
(`<aws.scheduler.scheduled-time>` = the scheduled time in UTC, `2026-12-04T00:00:00Z`); failed
invocations are retried up to `RetryPolicy.MaximumRetryAttempts`, then sent to the DeadLetterConfig
queue when the template has one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from billing_local.lambda_runtime import InvocationError, LocalFunction
from billing_local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, FunctionEvent

log = logging.getLogger("billing_local.schedules")

_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                       "DEC"), start=1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_RANGES = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {})]


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """The values one cron field allows; None for `*`/`?` (anything)."""
    if text in ("*", "?"):
        return None
    for token in re.split(r"[,/-]", text.upper()):
        if token != "*" and token not in names and not token.isdigit():
            raise ValueError(f"cron field {text!r}: {token!r} is not emulated by the local stack (L, W, # are not)")

    def value(token: str) -> int:
        token = token.upper()
        number = names[token] if token in names else int(token)
        if not low <= number <= high:
            raise ValueError(f"cron value {token} outside {low}-{high}")
        return number

    out: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            a, b = spec.split("-", 1)
            first, last = value(a), value(b)
        else:
            first = value(spec)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return out


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None  # 1 = Sunday ... 7 = Saturday
    years: set[int] | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise ValueError(f"cron({body}): six fields expected (minutes hours day-of-month month day-of-week year)")
        if parts[2] != "?" and parts[4] != "?":
            raise ValueError(f"cron({body}): day-of-month or day-of-week must be '?'")
        return cls(*(_field(p, lo, hi, names) for p, (lo, hi, names) in zip(parts, _RANGES, strict=True)))

    def _day_matches(self, day: date) -> bool:
        weekday = day.isoweekday() % 7 + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
        return ((self.years is None or day.year in self.years) and (self.months is None or day.month in self.months)
                and (self.days is None or day.day in self.days)
                and (self.weekdays is None or weekday in self.weekdays))

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first time strictly after `after` (aware), in UTC; None if there is none within 10 years."""
        local = after.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours = sorted(self.hours) if self.hours is not None else list(range(24))
        minutes = sorted(self.minutes) if self.minutes is not None else list(range(60))
        day = local.date()
        for _ in range(3660):
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if candidate >= local:
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
        return None


_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass
class Schedule:
    """One ScheduleV2 event of a function."""

    name: str  # FunctionLogicalId.EventName
    expression: str
    timezone: ZoneInfo
    input: str | None
    function: LocalFunction
    retries: int
    dead_letter_queue_url: str | None
    anchor: datetime  # rate() counts from here (the local stack's start)

    def next_after(self, after: datetime) -> datetime | None:
        kind, _, rest = self.expression.partition("(")
        body = rest.rstrip(")").strip()
        if kind == "cron":
            return Cron.parse(body).next_after(after, self.timezone)
        if kind == "rate":
            amount, unit = body.split()
            period = timedelta(seconds=int(amount) * _UNITS[unit.lower()])
            elapsed = max(timedelta(0), after - self.anchor)
            return self.anchor + period * (elapsed // period + 1)
        if kind == "at":
            when = datetime.fromisoformat(body).replace(tzinfo=self.timezone).astimezone(UTC)
            return when if when > after else None
        raise ValueError(f"{self.name}: unknown schedule expression {self.expression!r}")

    @property
    def arn(self) -> str:
        return f"arn:aws:scheduler:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:schedule/default/{self.name}"

    def payload(self, scheduled: datetime, execution_id: str, attempt: int) -> Any:
        """The event the target receives: the Input with Scheduler's context attributes substituted."""
        text = self.input if self.input is not None else "{}"
        for key, value in (("scheduled-time", scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
                           ("schedule-arn", self.arn), ("execution-id", execution_id),
                           ("attempt-number", str(attempt))):
            text = text.replace(f"<aws.scheduler.{key}>", value)
        try:
            return json.loads(text)
        except ValueError:
            return text


def schedule_of(logical_id: str, event: FunctionEvent, function: LocalFunction, anchor: datetime,
                dead_letter_queue_url: str | None) -> Schedule:
    input_ = event.input
    if input_ is not None and not isinstance(input_, str):
        input_ = json.dumps(input_)
    retry = event.properties.get("RetryPolicy") or {}
    schedule = Schedule(name=f"{logical_id}.{event.name}", expression=str(event.schedule_expression),
                        timezone=ZoneInfo(event.schedule_timezone or "UTC"), input=input_, function=function,
                        retries=int(retry.get("MaximumRetryAttempts", 185)),
                        dead_letter_queue_url=dead_letter_queue_url, anchor=anchor)
    schedule.next_after(anchor)  # fail fast on an expression the emulator cannot read
    return schedule


class Scheduler:
    """Fires every schedule at its times until `stop` is set."""

    def __init__(self, schedules: list[Schedule], stop: threading.Event, sqs: Any = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), retry_delay: float = 1.0) -> None:
        self.schedules = schedules
        self.stop = stop
        self.sqs = sqs
        self.now = now
        self.retry_delay = retry_delay
        self.thread = threading.Thread(target=self.run, name="scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        started = self.now()
        due = {s.name: s.next_after(started) for s in self.schedules}
        for s in self.schedules:
            log.info("schedule %s (%s %s): next at %s", s.name, s.expression, s.timezone.key,
                     due[s.name].isoformat() if due[s.name] else "never")
        while not self.stop.is_set():
            pending = [(t, s) for s in self.schedules if (t := due[s.name]) is not None]
            if not pending:
                self.stop.wait(3600)
                continue
            when, schedule = min(pending, key=lambda p: p[0])
            wait = (when - self.now()).total_seconds()
            if wait > 0:
                self.stop.wait(min(wait, 60))  # re-check the clock at least every minute
                continue
            self.fire(schedule, when)
            due[schedule.name] = schedule.next_after(when)

    def fire(self, schedule: Schedule, scheduled: datetime) -> bool:
        """Invoke the schedule's function for `scheduled`, with retries; True when it succeeded."""
        execution_id = uuid.uuid4().hex[:16]
        for attempt in range(1, schedule.retries + 2):
            event = schedule.payload(scheduled, execution_id, attempt)
            log.info("schedule %s fires for %s (attempt %d)", schedule.name, scheduled.isoformat(), attempt)
            try:
                schedule.function.invoke(event)
                return True
            except InvocationError as exc:
                error = exc
            if self.stop.wait(self.retry_delay * attempt):
                break
        log.error("schedule %s: %s gave up after retries: %s", schedule.name, schedule.function.info.logical_id, error)
        if schedule.dead_letter_queue_url and self.sqs is not None:
            attributes = {"ERROR_CODE": error.error_type, "ERROR_MESSAGE": error.error_message[:1000],
                          "EXECUTION_ID": execution_id, "SCHEDULE_ARN": schedule.arn}
            self.sqs.send_message(QueueUrl=schedule.dead_letter_queue_url, MessageBody=json.dumps(event),
                                  MessageAttributes={k: {"DataType": "String", "StringValue": v or "-"}
                                                     for k, v in attributes.items()})
        return False
