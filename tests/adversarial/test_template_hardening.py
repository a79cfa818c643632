"""Template invariants that tests/test_template.py leaves out: no broad policy templates or managed
policies, and the usage consumer can only send to its own DLQ (no other SQS power)."""

from __future__ import annotations

import json

from billing_local.template import resources

BROAD = ("FullAccess", "PowerUser", "AdministratorAccess", "CrudPolicy", "DynamoDBWritePolicy")


def test_functions_use_only_inline_statements_no_broad_policy_templates(template):
    for lid, fn in resources(template, "AWS::Serverless::Function").items():
        for policy in fn["Properties"].get("Policies", []) or []:
            text = json.dumps(policy)
            assert isinstance(policy, dict) and "Statement" in policy, (lid, policy)
            assert not any(word in text for word in BROAD), (lid, policy)
    for lid, role in resources(template, "AWS::IAM::Role").items():
        assert not any(word in json.dumps(role.get("Properties", {}).get("ManagedPolicyArns", []))
                       for word in BROAD), lid


def test_the_usage_consumer_may_only_send_to_the_usage_dlq(template):
    fn = template["Resources"]["UsageConsumerFunction"]
    for policy in fn["Properties"].get("Policies", []):
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            sqs = [a for a in actions if a.startswith("sqs:")]
            if sqs:
                assert sqs == ["sqs:SendMessage"], statement
                assert "UsageDLQ" in json.dumps(statement["Resource"]), statement
