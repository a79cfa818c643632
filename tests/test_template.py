"""Invariants of template.yaml, and the moto stack built from it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from billing_local.template import (
    REPO_ROOT,
    functions,
    queue_definitions,
    resources,
    routes,
    table_definitions,
)

BASE = "/api/v1/billing"
CONTRACT_ROUTES = {
    ("GET", "/balance"),
    ("GET", "/ledger"),
    ("GET", "/activity"),
    ("GET", "/usage/executions/{execution_id}/spend-summary"),
    ("GET", "/usage/tasks/{task_id}/spend-summary"),
    ("GET", "/statements/monthly"),
    ("GET", "/plans"),
    ("GET", "/plan"),
    ("POST", "/plan/select"),
}
WRITE_ACTIONS = re.compile(
    r"^dynamodb:(Put|Update|Delete|BatchWrite|TransactWrite|ConditionCheck|Create|Restore)", re.IGNORECASE
)


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in function.get("Properties", {}).get("Policies", []) or []:
        if isinstance(policy, dict) and "Statement" in policy:
            out.extend(policy["Statement"])
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _sqs_events(template):
    for lid, info in functions(template).items():
        for event in info.events:
            if event.type == "SQS":
                yield lid, info, event


def test_sqs_visibility_timeout_covers_six_function_timeouts_plus_window(template):
    queues = template["Resources"]
    events = list(_sqs_events(template))
    assert events
    for _lid, info, event in events:
        visibility = int(queues[event.queue]["Properties"]["VisibilityTimeout"])
        assert visibility >= 6 * info.timeout + event.batching_window_seconds, event.queue


def test_every_sqs_event_reports_partial_batch_failures(template):
    for lid, _info, event in _sqs_events(template):
        assert "ReportBatchItemFailures" in event.function_response_types, lid


def test_redriven_queues_retry_enough_and_their_dlq_outlives_them(template):
    defs = queue_definitions(template)
    redriven = [q for q in defs.values() if q.dead_letter_queue]
    assert {q.logical_id for q in redriven} >= {"UsageQueue", "RefreshQueue"}
    for queue in redriven:
        assert queue.max_receive_count >= 5
        dlq = defs[queue.dead_letter_queue]
        retention = int(queue.attributes.get("MessageRetentionPeriod", 345600))
        assert int(dlq.attributes["MessageRetentionPeriod"]) > retention


def test_every_sqs_triggered_queue_has_a_dlq(template):
    defs = queue_definitions(template)
    for lid, _info, event in _sqs_events(template):
        assert defs[event.queue].dead_letter_queue, lid


def test_no_wildcard_actions_on_tables(template):
    tables = set(resources(template, "AWS::DynamoDB::Table"))
    for lid, fn in resources(template, "AWS::Serverless::Function").items():
        for stmt in _statements(fn):
            actions = _as_list(stmt["Action"])
            assert not any("*" in a for a in actions), (lid, stmt)
            for res in _as_list(stmt["Resource"]):
                assert res != "*", (lid, stmt)
                text = json.dumps(res)
                if any(t in text for t in tables):
                    assert all(a.startswith("dynamodb:") for a in actions), (lid, stmt)


def test_every_table_has_point_in_time_recovery(template):
    for lid, table in resources(template, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, lid
        assert props["BillingMode"] == "PAY_PER_REQUEST", lid


def test_billing_table_is_protected_from_deletion(template):
    table = template["Resources"]["BillingTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_read_api_function_has_no_write_action(template):
    fn = template["Resources"]["BillingReadApiFunction"]
    actions = [a for stmt in _statements(fn) for a in _as_list(stmt["Action"])]
    assert actions
    assert not [a for a in actions if WRITE_ACTIONS.match(a) or a.startswith("sqs:")]
    assert "Policies" in fn["Properties"] and len(fn["Properties"]["Policies"]) == 1


def test_every_contract_route_is_declared_once(template):
    declared = [(method, path) for method, path, _fn in routes(template)]
    expected = {(m, BASE + p) for m, p in CONTRACT_ROUTES}
    assert set(declared) == expected
    assert len(declared) == len(set(declared))


def test_contract_document_lists_the_same_routes():
    contract = REPO_ROOT.parent / "shared" / "CONTRACT.md"
    if not contract.exists():
        pytest.skip("shared/CONTRACT.md is not beside the repository")
    found = set(re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", contract.read_text(), re.MULTILINE))
    assert found == CONTRACT_ROUTES


def test_function_code_uris_exist_and_are_separate(template):
    for lid, info in functions(template).items():
        assert info.module_path.is_file(), lid
        assert info.code_uri.startswith("functions/"), lid
    assert not (REPO_ROOT / "functions" / "__init__.py").exists()


def test_schedule_passes_the_scheduled_time(template):
    info = functions(template)["RefreshSchedulerFunction"]
    (event,) = [e for e in info.events if e.type == "ScheduleV2"]
    assert event.schedule_expression == "cron(0 0 * * ? *)"
    assert event.schedule_timezone == "UTC"
    assert json.loads(event.input) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert event.properties["DeadLetterConfig"]
    assert event.properties["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_create_tables_matches_template_key_schema(template, aws):
    for lid, definition in table_definitions(template).items():
        described = aws.ddb.describe_table(TableName=aws.tables[lid])["Table"]
        assert described["KeySchema"] == definition["KeySchema"]
        assert {(a["AttributeName"], a["AttributeType"]) for a in described["AttributeDefinitions"]} == {
            (a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]
        }
        indexes = {i["IndexName"]: i for i in described.get("GlobalSecondaryIndexes", [])}
        expected = {i["IndexName"]: i for i in definition.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == set(expected)
        for name, index in expected.items():
            assert indexes[name]["KeySchema"] == index["KeySchema"]
            assert indexes[name]["Projection"]["ProjectionType"] == index["Projection"]["ProjectionType"]
    ttl = aws.ddb.describe_time_to_live(TableName=aws.tables["IdempotencyTable"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"


def test_create_queues_applies_redrive_and_timeouts(aws):
    attrs = aws.sqs.get_queue_attributes(QueueUrl=aws.queues["UsageQueue"], AttributeNames=["All"])["Attributes"]
    dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.queues["UsageDLQ"], AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert attrs["VisibilityTimeout"] == "300"
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}


def test_aws_fixture_sets_the_functions_environment(aws):
    import os

    from billing.settings import get_settings

    settings = get_settings()
    assert settings.billing_table == aws.tables["BillingTable"] == os.environ["BILLING_TABLE"]
    assert settings.config_table == aws.tables["ConfigTable"]
    assert settings.idempotency_table == aws.tables["IdempotencyTable"]
    assert settings.usage_queue_url == aws.queues["UsageQueue"]
    assert settings.usage_dlq_url == aws.queues["UsageDLQ"]
    assert settings.refresh_queue_url == aws.queues["RefreshQueue"]
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "billing"


def test_lambda_context_fixture(lambda_context):
    assert lambda_context.get_remaining_time_in_millis() > 0
    assert lambda_context.invoked_function_arn.startswith("arn:aws:lambda:")
    assert lambda_context.aws_request_id
