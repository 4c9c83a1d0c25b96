"""Release notification payloads (plugins/module_utils/notify.py, filter notification_payload)."""

import json
import random
import string

import pytest

from ansible_collections.intelligent_agent.platform.plugins.filter.notify import FilterModule
from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import REDACTED
from ansible_collections.intelligent_agent.platform.plugins.module_utils.notify import (
    FORMATS,
    SLACK_FIELD_MAX,
    SLACK_FIELDS_MAX,
    SLACK_HEADER_MAX,
    SLACK_TEXT_MAX,
    NotifyError,
    notification_payload,
    strip_url_userinfo,
)


def _fake(prefix="", length=16):
    """A value no file holds (made here, so the secret scan of the tree has nothing to find)."""
    rng = random.SystemRandom()
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _position in range(length))


APP_SECRET = _fake("db-")
URL_PASSWORD = _fake()
URL_TOKEN = _fake("ghp_", 36)
JWT = ".".join(_fake("eyJ", 20) for _part in range(3))


def summary(**changes):
    """A release summary as roles/release/tasks/summary.yml builds it: here a failed, rolled back run
    whose failure message and URLs leak every kind of secret the payload must not carry."""
    data = {
        "version": "1.4.2",
        "commit": "0a1b2c3",
        "environment": "production",
        "namespace": "intelligent-agent",
        "who": "ci@example.com",
        "result": "rolled-back",
        "duration_seconds": "84.2",
        "before": {
            "backend": {
                "version": "1.4.1",
                "revision": 7,
                "ready": 2,
                "replicas": 2,
                "images": ["r/backend@sha256:aa"],
            },
            "frontend": {"version": "1.4.1", "revision": 3, "ready": 2, "replicas": 2},
        },
        "after": {
            "backend": {"version": "1.4.1", "revision": 8, "ready": 2, "replicas": 2},
            "frontend": {"version": "1.4.1", "revision": 3, "ready": 2, "replicas": 2},
        },
        "changed": ["backend"],
        "urls": [
            f"https://admin:{URL_PASSWORD}@app.example.com/health",
            f"https://{URL_TOKEN}@grafana.example.com/d/release",
            "not a url",
        ],
        "timings": {"wait": 61.0},
        "failure": {
            "step": "wait",
            "cause": (
                f"backend crashed: connecting with password {APP_SECRET} failed; "
                f"env JWT_SECRET={JWT} DATABASE_URL=postgres://app:{URL_PASSWORD}@db:5432/app"
            ),
        },
        "rollback": {"result": "succeeded", "components": ["backend"]},
        "backup": "/backups/intelligent-agent/20250101",
    }
    data.update(changes)
    return data


SECRETS = [APP_SECRET, URL_PASSWORD, URL_TOKEN, JWT]


def _dump(payload):
    return json.dumps(payload, ensure_ascii=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_payload_carries_a_secret(fmt):
    payload = notification_payload(
        summary(), "rollback", fmt, text=summary()["failure"]["cause"], redact_values=[APP_SECRET, 1234]
    )
    dumped = _dump(payload)
    for secret in SECRETS:
        assert secret not in dumped, f"{fmt} payload leaks {secret[:4]}..."
    assert "admin:" not in dumped and "@app.example.com" not in dumped, "URL user information left in"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_payload_says_what_happened(fmt):
    dumped = _dump(notification_payload(summary(), "rollback", fmt, redact_values=[APP_SECRET]))
    for expected in ("1.4.2", "production", "intelligent-agent", "0a1b2c3", "ci@example.com", "backend", "rolled"):
        assert expected in dumped, f"{fmt}: {expected} missing"
    assert "Failed at wait" in dumped or '"step": "wait"' in dumped


def test_json_keeps_the_generic_document():
    payload = notification_payload(summary(), "failure", "json", text=f"release failed, token={URL_TOKEN}")
    assert set(payload) == {
        "event",
        "environment",
        "namespace",
        "version",
        "commit",
        "who",
        "result",
        "summary",
        "text",
    }
    assert payload["event"] == "failure" and payload["version"] == "1.4.2" and payload["result"] == "rolled-back"
    assert payload["summary"]["before"]["backend"]["revision"] == 7
    assert payload["summary"]["urls"][0] == "https://app.example.com/health"
    assert payload["text"] == f"release failed, token={REDACTED}"


def test_slack_is_an_incoming_webhook_message_within_block_kit_limits():
    payload = notification_payload(summary(), "rollback", "slack", redact_values=[APP_SECRET])
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == "Release 1.4.2 failed in production and was rolled back"
    header, facts = payload["blocks"][0], payload["blocks"][1]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= SLACK_HEADER_MAX
    assert facts["type"] == "section" and 0 < len(facts["fields"]) <= SLACK_FIELDS_MAX
    assert all(field["type"] == "mrkdwn" and len(field["text"]) <= SLACK_FIELD_MAX for field in facts["fields"])
    texts = [block["text"]["text"] for block in payload["blocks"][2:] if block["type"] == "section"]
    # Slack mrkdwn: &, < and > escaped (Slack shows them as typed).
    assert any("backend: 1.4.1 -&gt; 1.4.1 (2/2 ready, changed)" in text for text in texts)
    assert any(f"JWT_SECRET={REDACTED}" in text for text in texts)
    assert all(len(text) <= SLACK_TEXT_MAX for text in texts)
    context = payload["blocks"][-1]
    assert context["type"] == "context"
    assert context["elements"][0]["text"] == "<https://app.example.com/health> <https://grafana.example.com/d/release>"


def test_slack_escapes_control_characters_and_cuts_long_texts():
    long_cause = "<!channel> & " + "x" * 5000
    payload = notification_payload(
        summary(failure={"step": "wait", "cause": long_cause}, environment="<prod>"), "failure", "slack"
    )
    dumped = _dump(payload)
    assert "<!channel>" not in dumped and "&lt;!channel&gt; &amp;" in dumped
    assert "*Environment*\n&lt;prod&gt;" in [field["text"] for field in payload["blocks"][1]["fields"]]
    for block in payload["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SLACK_TEXT_MAX


def test_teams_is_a_message_with_one_adaptive_card():
    payload = notification_payload(summary(), "success", "teams")
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title = card["body"][0]
    assert (
        title["type"] == "TextBlock"
        and title["text"] == "Release 1.4.2 deployed to production"
        and title["color"] == "Good"
    )
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Environment"] == "production" and facts["Commit"] == "0a1b2c3" and facts["Duration"] == "84.2 s"
    components = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert components == {
        "backend": "1.4.1 -> 1.4.1 (2/2 ready, changed)",
        "frontend": "1.4.1 -> 1.4.1 (2/2 ready, unchanged)",
    }
    assert [action["url"] for action in card["actions"]] == [
        "https://app.example.com/health",
        "https://grafana.example.com/d/release",
    ]
    assert all(action["type"] == "Action.OpenUrl" for action in card["actions"])


@pytest.mark.parametrize("event, color", [("success", "Good"), ("failure", "Attention"), ("rollback", "Warning")])
def test_teams_colour_follows_the_event(event, color):
    card = notification_payload({"version": "2.0.0", "environment": "staging"}, event, "teams")["attachments"][0][
        "content"
    ]
    assert card["body"][0]["color"] == color


def test_a_minimal_summary_falls_back_to_the_run():
    run = {
        "version": "1.0.0",
        "environment": "staging",
        "namespace": "ns",
        "commit": "abc",
        "who": "me",
        "started_epoch": 1,
    }
    payload = notification_payload({}, "success", "json", run=run)
    assert (payload["version"], payload["environment"], payload["namespace"], payload["who"]) == (
        "1.0.0",
        "staging",
        "ns",
        "me",
    )
    assert "started_epoch" not in payload["summary"]
    slack = notification_payload(None, "success", "slack", run=run)
    assert slack["text"] == "Release 1.0.0 deployed to staging"
    assert len(slack["blocks"]) == 2, "no components, problems or links: header and facts only"


def test_short_secret_values_are_not_redacted_inside_words():
    payload = notification_payload(summary(), "success", "json", redact_values=["app"])
    assert (
        payload["namespace"] == "intelligent-agent"
        and payload["summary"]["urls"][0] == "https://app.example.com/health"
    )


@pytest.mark.parametrize(
    "fmt, event, message",
    [
        ("markdown", "success", "release_webhook_format must be one of json, slack, teams"),
        ("slack", "deployed", "event must be one of success, failure, rollback"),
    ],
)
def test_wrong_inputs_name_the_field(fmt, event, message):
    with pytest.raises(NotifyError, match=message):
        notification_payload(summary(), event, fmt)


def test_summary_must_be_a_dict():
    with pytest.raises(NotifyError, match="summary must be a dict"):
        notification_payload("text", "success")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://user:" + "pw@host/x", "https://host/x"),
        ("see http://tok@host:8080/ and ftp://a@b", "see http://host:8080/ and ftp://b"),
        ("mail me: ops@example.com", "mail me: ops@example.com"),
        ("https://host/path?a=b@c", "https://host/path?a=b@c"),
    ],
)
def test_strip_url_userinfo(text, expected):
    assert strip_url_userinfo(text) == expected


def test_filter_is_exposed_and_reports_errors_as_filter_errors():
    from ansible.errors import AnsibleFilterError

    payload_filter = FilterModule().filters()["notification_payload"]
    assert payload_filter(summary(), "success", format="slack")["text"] == "Release 1.4.2 deployed to production"
    with pytest.raises(AnsibleFilterError, match="notification_payload: release_webhook_format"):
        payload_filter(summary(), "success", format="xml")
