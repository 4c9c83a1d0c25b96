"""Container HEALTHCHECK of the demo backend: exit 0 when GET /health answers 200 within 3 seconds."""

import os
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:%s/health" % os.environ.get("PORT", "5000"), timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # pylint: disable=broad-except
    sys.stderr.write("healthcheck failed: %s\n" % exc)
    sys.exit(1)
