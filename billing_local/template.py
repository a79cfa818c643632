"""template.yaml as data: tables, queues, functions, routes, schedules and environment.

Local runs and tests derive everything from the template through this module, so what they
build cannot drift from what is deployed. Nothing here restates a resource.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "us-east-1"

_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


# --------------------------------------------------------------------------- loading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Parse template.yaml (default: the repository's) into plain dicts with long-form intrinsics."""
    with open(path or DEFAULT_TEMPLATE, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template.get("Resources", {}).items() if r.get("Type") == type_}


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: spec["Default"] for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


# --------------------------------------------------------------------------- tables


def table_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """CreateTable kwargs (without TableName) per table logical id, straight from the template."""
    out: dict[str, dict[str, Any]] = {}
    for lid, res in resources(template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        mode = props.get("BillingMode", "PROVISIONED")
        kwargs: dict[str, Any] = {
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": mode,
        }
        if mode == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        gsis = []
        for gsi in props.get("GlobalSecondaryIndexes", []):
            index = {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")}
            if mode == "PROVISIONED":
                index["ProvisionedThroughput"] = gsi["ProvisionedThroughput"]
            gsis.append(index)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
        out[lid] = kwargs
    return out


def ttl_attribute(template: dict[str, Any], logical_id: str) -> str | None:
    spec = template["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
    if spec and spec.get("Enabled", False):
        return spec["AttributeName"]
    return None


def create_tables(dynamodb_client: Any, template: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Create every table of the template (TTL included); returns logical id -> table name."""
    names: dict[str, str] = {}
    for lid, kwargs in table_definitions(template).items():
        name = f"{prefix}{lid}"
        dynamodb_client.create_table(TableName=name, **kwargs)
        dynamodb_client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        ttl = ttl_attribute(template, lid)
        if ttl:
            dynamodb_client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )
        names[lid] = name
    return names


# --------------------------------------------------------------------------- queues


@dataclass(frozen=True)
class QueueDefinition:
    logical_id: str
    attributes: dict[str, str]  # SQS attribute values as strings, RedrivePolicy excluded
    dead_letter_queue: str | None = None  # logical id of the DLQ
    max_receive_count: int | None = None

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def queue_definitions(template: dict[str, Any]) -> dict[str, QueueDefinition]:
    """Queues in creation order: every DLQ comes before the queues that redrive to it."""
    defs: dict[str, QueueDefinition] = {}
    for lid, res in resources(template, "AWS::SQS::Queue").items():
        props = res.get("Properties", {})
        attributes = {k: _attr_str(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        redrive = props.get("RedrivePolicy")
        dlq = count = None
        if redrive:
            target = redrive["deadLetterTargetArn"]
            if not (isinstance(target, dict) and "Fn::GetAtt" in target):
                raise ValueError(f"{lid}: deadLetterTargetArn must be !GetAtt <Queue>.Arn")
            dlq = target["Fn::GetAtt"][0]
            count = int(redrive["maxReceiveCount"])
        defs[lid] = QueueDefinition(lid, attributes, dlq, count)
    return dict(sorted(defs.items(), key=lambda kv: kv[1].dead_letter_queue is not None))


def create_queues(sqs_client: Any, template: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Create every queue of the template with its attributes and redrive; logical id -> URL."""
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    for lid, qdef in queue_definitions(template).items():
        attributes = dict(qdef.attributes)
        if qdef.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[qdef.dead_letter_queue], "maxReceiveCount": qdef.max_receive_count}
            )
        name = f"{prefix}{lid}" + (".fifo" if qdef.fifo else "")
        url = sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[lid] = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[lid] = url
    return urls


# --------------------------------------------------------------------------- intrinsics


def _resource_attribute(template: dict[str, Any], lid: str, attribute: str, value: Any) -> str:
    """Value of !GetAtt lid.attribute, given what `resolved` holds for lid (Ref value or attribute map)."""
    if isinstance(value, dict):
        if attribute in value:
            return value[attribute]
        value = value["Ref"]
    type_ = template["Resources"][lid]["Type"]
    if type_ == "AWS::SQS::Queue":  # Ref is the URL: http(s)://host/<account>/<name>
        account, name = value.rstrip("/").split("/")[-2:]
        derived = {"QueueUrl": value, "QueueName": name, "Arn": f"arn:aws:sqs:{LOCAL_REGION}:{account}:{name}"}
    elif type_ == "AWS::DynamoDB::Table":
        derived = {"Arn": f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{value}"}
    else:
        derived = {}
    if attribute not in derived:
        raise KeyError(f"cannot resolve !GetAtt {lid}.{attribute}")
    return derived[attribute]


class Resolver:
    """Evaluates intrinsics against resolved resources, parameter values and pseudo parameters."""

    def __init__(self, template: dict[str, Any], resolved: dict[str, Any] | None = None) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "billing-local",
            "AWS::NoValue": None,
            **parameter_defaults(template),
            **(resolved or {}),
        }

    def ref(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"cannot resolve !Ref {name}: pass it in `resolved`")
        value = self.values[name]
        return value["Ref"] if isinstance(value, dict) else value

    def get_att(self, lid: str, attribute: str) -> str:
        if lid not in self.values:
            raise KeyError(f"cannot resolve !GetAtt {lid}.{attribute}: pass {lid} in `resolved`")
        return _resource_attribute(self.template, lid, attribute, self.values[lid])

    def condition(self, name: str) -> bool:
        return bool(self(self.template.get("Conditions", {})[name]))

    def sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})

        def repl(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in local:
                return str(local[expr])
            if "." in expr and not expr.startswith("AWS::"):
                lid, attribute = expr.split(".", 1)
                return self.get_att(lid, attribute)
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                lid, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(lid, attribute)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self(v)) for v in self(arg[1]))
            if key == "Fn::Select":
                return self(arg[1])[int(self(arg[0]))]
            if key == "Fn::Split":
                return str(self(arg[1])).split(arg[0])
            if key == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::And":
                return all(self(v) for v in arg)
            if key == "Fn::Or":
                return any(self(v) for v in arg)
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self(arg)).encode()).decode()
        return {k: self(v) for k, v in node.items()}


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionEvent:
    name: str
    type: str  # SQS, HttpApi, Api, ScheduleV2, Schedule, ...
    properties: dict[str, Any]
    # HttpApi / Api
    method: str | None = None
    path: str | None = None
    api: str | None = None  # logical id of the API
    # SQS
    queue: str | None = None  # logical id of the queue
    batch_size: int | None = None
    batching_window_seconds: int = 0
    function_response_types: tuple[str, ...] = ()
    maximum_concurrency: int | None = None
    # ScheduleV2 / Schedule
    schedule_expression: str | None = None
    schedule_timezone: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    code_uri: str  # relative to the repository root, e.g. "functions/usage_consumer/"
    handler: str  # e.g. "app.lambda_handler"
    timeout: int
    memory_size: int
    properties: dict[str, Any]  # Globals merged in
    events: tuple[FunctionEvent, ...] = field(default=())

    @property
    def module_path(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return REPO_ROOT / self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


def _merged_properties(template: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """Function properties with Globals.Function merged the way SAM merges them."""
    merged = dict(template.get("Globals", {}).get("Function", {}))
    for key, value in props.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = _merge_maps(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _merge_maps(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge_maps(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def _logical_id(node: Any) -> str | None:
    if isinstance(node, dict):
        if "Ref" in node:
            return node["Ref"]
        if "Fn::GetAtt" in node:
            return node["Fn::GetAtt"][0]
    return None


def _event(name: str, spec: dict[str, Any]) -> FunctionEvent:
    type_ = spec["Type"]
    props = spec.get("Properties", {}) or {}
    extra: dict[str, Any] = {}
    if type_ in ("HttpApi", "Api"):
        extra = {
            "method": str(props.get("Method", "ANY")).upper(),
            "path": props.get("Path"),
            "api": _logical_id(props.get("ApiId") or props.get("RestApiId")),
        }
    elif type_ == "SQS":
        extra = {
            "queue": _logical_id(props["Queue"]),
            "batch_size": int(props.get("BatchSize", 10)),
            "batching_window_seconds": int(props.get("MaximumBatchingWindowInSeconds", 0)),
            "function_response_types": tuple(props.get("FunctionResponseTypes", ())),
            "maximum_concurrency": (props.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        }
    elif type_ in ("ScheduleV2", "Schedule"):
        extra = {
            "schedule_expression": props.get("ScheduleExpression") or props.get("Schedule"),
            "schedule_timezone": props.get("ScheduleExpressionTimezone"),
            "input": props.get("Input"),
        }
    return FunctionEvent(name=name, type=type_, properties=props, **extra)


def functions(template: dict[str, Any]) -> dict[str, FunctionInfo]:
    out: dict[str, FunctionInfo] = {}
    for lid, res in resources(template, "AWS::Serverless::Function").items():
        props = _merged_properties(template, res.get("Properties", {}))
        events = tuple(_event(name, spec) for name, spec in (props.get("Events") or {}).items())
        out[lid] = FunctionInfo(
            logical_id=lid,
            code_uri=props["CodeUri"],
            handler=props["Handler"],
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            properties=props,
            events=events,
        )
    return out


def function_environment(
    template: dict[str, Any], logical_id: str, resolved: dict[str, Any] | None = None
) -> dict[str, str]:
    """The function's environment variables (Globals merged), intrinsics resolved.

    `resolved` maps logical ids to what !Ref gives (table name, queue URL) or to a map of
    attributes ({"Ref": ..., "Arn": ...}); parameter names in it override parameter defaults.
    """
    info = functions(template)[logical_id]
    variables = (info.properties.get("Environment") or {}).get("Variables") or {}
    resolver = Resolver(template, resolved)
    return {name: _attr_str(resolver(value)) for name, value in variables.items()}


def routes(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, function logical id) for every Api/HttpApi event."""
    return [
        (ev.method or "ANY", ev.path or "/", lid)
        for lid, info in functions(template).items()
        for ev in info.events
        if ev.type in ("HttpApi", "Api")
    ]


__all__ = [
    "DEFAULT_TEMPLATE",
    "FunctionEvent",
    "FunctionInfo",
    "QueueDefinition",
    "Resolver",
    "create_queues",
    "create_tables",
    "function_environment",
    "functions",
    "load_template",
    "parameter_defaults",
    "queue_definitions",
    "resources",
    "routes",
    "table_definitions",
    "ttl_attribute",
]
