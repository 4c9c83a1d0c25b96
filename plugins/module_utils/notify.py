# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release notification payloads for a webhook: generic JSON, Slack incoming webhook, Microsoft Teams.

Built from the release summary (roles/release/tasks/summary.yml). Every text that goes in passes
:func:`content.redact_strings` with the app's secret values first, and URLs lose their user
information, so a payload carries no secret value, no URL credential and no secret-looking
``KEY=value``, whatever a failure message or a URL held. Plain functions, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import redact, redact_strings

FORMATS = ("json", "slack", "teams")
EVENTS = ("success", "failure", "rollback")

# scheme://anything@ : user information (a token, user:password) in a URL.
URL_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#]+@")
HTTP_URL_RE = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)

# Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_MAX = 10
# Links shown as buttons or actions at most.
MAX_LINKS = 5

_TITLES = {
    "success": "Release {version} deployed to {environment}",
    "failure": "Release {version} FAILED in {environment}",
    "rollback": "Release {version} failed in {environment} and was rolled back",
}
_SLACK_ICONS = {"success": ":white_check_mark:", "failure": ":x:", "rollback": ":leftwards_arrow_with_hook:"}
_TEAMS_COLORS = {"success": "Good", "failure": "Attention", "rollback": "Warning"}


class NotifyError(ValueError):
    """A notification input that cannot be used (the message names the field)."""


def strip_url_userinfo(text):
    """``text`` with ``user:password@`` / ``token@`` removed from every URL in it."""
    if not isinstance(text, str):
        return text
    return URL_USERINFO_RE.sub(lambda match: match.group(1), text)


def clean(data, redact_values=None):
    """Copy of ``data`` safe to send: secret values, secret-looking keys and assignments redacted, URLs
    without credentials. Applied to everything a payload is built from."""
    values = [str(value) for value in (redact_values or []) if value is not None and not isinstance(value, bool)]
    data = redact(data, values) if values else redact(data)
    data = redact_strings(data, values)
    return _map_strings(data, strip_url_userinfo)


def _map_strings(data, function):
    if isinstance(data, dict):
        return dict((key, _map_strings(value, function)) for key, value in data.items())
    if isinstance(data, (list, tuple)):
        return [_map_strings(value, function) for value in data]
    if isinstance(data, str):
        return function(data)
    return data


def _text(value, default="-"):
    if value is None or value == "" or value == {} or value == []:
        return default
    return str(value)


def _cut(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def title(summary, event):
    """One line: what happened to which version where."""
    return _TITLES[event].format(version=_text(summary.get("version")), environment=_text(summary.get("environment")))


def facts(summary):
    """(label, value) pairs shown in every format."""
    duration = summary.get("duration_seconds")
    return [
        ("Environment", _text(summary.get("environment"))),
        ("Namespace", _text(summary.get("namespace"))),
        ("Version", _text(summary.get("version"))),
        ("Commit", _text(summary.get("commit"))),
        ("By", _text(summary.get("who"))),
        ("Result", _text(summary.get("result"))),
        ("Duration", "-" if duration in (None, "") else "%s s" % duration),
    ]


def component_lines(summary):
    """``name: before -> after (ready/replicas ready, changed)`` per component, sorted by name."""
    before = summary.get("before") or {}
    after = summary.get("after") or {}
    changed = set(summary.get("changed") or [])
    lines = []
    for name in sorted(set(before) | set(after)):
        old = before.get(name) or {}
        new = after.get(name) or {}
        lines.append(
            "%s: %s -> %s (%s/%s ready, %s)"
            % (
                name,
                _text(old.get("version")),
                _text(new.get("version")),
                _text(new.get("ready"), "0"),
                _text(new.get("replicas"), "0"),
                "changed" if name in changed else "unchanged",
            )
        )
    return lines


def problem_lines(summary):
    """The failure cause and the rollback outcome, when there are any."""
    lines = []
    failure = summary.get("failure") or {}
    if failure:
        lines.append("Failed at %s: %s" % (_text(failure.get("step"), "?"), _text(failure.get("cause"), "?")))
    rollback = summary.get("rollback") or {}
    if rollback:
        components = ", ".join(str(name) for name in rollback.get("components") or []) or "nothing rolled back"
        lines.append("Rollback: %s (%s)" % (_text(rollback.get("result"), "?"), components))
        if rollback.get("cause"):
            lines.append("Rollback failure: %s" % rollback["cause"])
    return lines


def links(summary):
    """The summary's http(s) URLs (credentials already stripped), at most MAX_LINKS."""
    return [url for url in summary.get("urls") or [] if isinstance(url, str) and HTTP_URL_RE.match(url)][:MAX_LINKS]


def _slack_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(summary, event):
    """Slack incoming webhook: ``text`` (the notification line) and Block Kit ``blocks``."""
    headline = title(summary, event)
    blocks = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut("%s %s" % (_SLACK_ICONS[event], headline), SLACK_HEADER_MAX),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut("*%s*\n%s" % (label, _slack_escape(value)), SLACK_FIELD_MAX)}
                for label, value in facts(summary)[:SLACK_FIELDS_MAX]
            ],
        },
    ]
    components = component_lines(summary)
    if components:
        body = _cut(_slack_escape("\n".join(components)), SLACK_TEXT_MAX - 6)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "```%s```" % body}})
    problems = problem_lines(summary)
    if problems:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(_slack_escape("\n".join(problems)), SLACK_TEXT_MAX)},
            }
        )
    urls = links(summary)
    if urls:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(" ".join("<%s>" % _slack_escape(url) for url in urls), SLACK_TEXT_MAX),
                    }
                ],
            }
        )
    return {"text": headline, "blocks": blocks}


def teams_payload(summary, event):
    """Microsoft Teams incoming webhook (Workflows or connector): a message with one Adaptive Card."""
    body = [
        {
            "type": "TextBlock",
            "text": title(summary, event),
            "size": "Medium",
            "weight": "Bolder",
            "color": _TEAMS_COLORS[event],
            "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in facts(summary)]},
    ]
    components = component_lines(summary)
    if components:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": line.split(": ", 1)[0], "value": line.split(": ", 1)[1]} for line in components],
            }
        )
    for line in problem_lines(summary):
        body.append({"type": "TextBlock", "text": line, "wrap": True, "color": "Attention"})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    urls = links(summary)
    if urls:
        card["actions"] = [{"type": "Action.OpenUrl", "title": _cut(url, 60), "url": url} for url in urls]
    return {
        "type": "message",
        "summary": title(summary, event),
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def json_payload(summary, event, text=""):
    """The generic JSON document: the run's fields, the whole summary and its text."""
    return {
        "event": event,
        "environment": summary.get("environment", ""),
        "namespace": summary.get("namespace", ""),
        "version": summary.get("version", ""),
        "commit": summary.get("commit", ""),
        "who": summary.get("who", ""),
        "result": summary.get("result", "unknown"),
        "summary": summary,
        "text": text or "",
    }


def notification_payload(summary, event, fmt="json", text="", redact_values=None, run=None):
    """The webhook body for ``event`` (success, failure, rollback) in format ``fmt`` (json, slack, teams).

    ``summary``: the release summary (release_summary); fields it lacks are taken from ``run``
    (release_run: version, commit, environment, namespace, who). ``text``: the summary as text (json only).
    ``redact_values``: values redacted wherever they appear (the app's secrets).
    """
    if fmt not in FORMATS:
        raise NotifyError("release_webhook_format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if event not in EVENTS:
        raise NotifyError("the notification event must be one of %s, got %r" % (", ".join(EVENTS), event))
    if summary is None:
        summary = {}
    if not isinstance(summary, dict):
        raise NotifyError("the release summary must be a dict, got %s" % type(summary).__name__)
    merged = dict(
        (key, value)
        for key, value in (run or {}).items()
        if key in ("version", "commit", "environment", "namespace", "who")
    )
    merged.update(summary)
    safe = clean(merged, redact_values)
    if fmt == "slack":
        return slack_payload(safe, event)
    if fmt == "teams":
        return teams_payload(safe, event)
    return json_payload(safe, event, clean(text or "", redact_values))
