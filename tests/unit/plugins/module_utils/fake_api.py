"""What a fake API server's call_api gives back, as the kubernetes client would: a response with a status and
bytes, or an HTTP error raised with its body. A payload is JSON-encoded unless it is text already."""

import json


def _text(payload):
    return payload if isinstance(payload, str) else json.dumps(payload)


class FakeResponse:
    def __init__(self, status, payload):
        self.status = status
        self.data = _text(payload).encode()

    def release_conn(self):
        pass


class FakeApiError(Exception):
    def __init__(self, status, payload):
        super().__init__(payload)
        self.status = status
        self.body = _text(payload)
