"""Build stage helper: write app/build-info.json from the build arguments and refuse unknown BROKEN modes."""

import json
import os
import sys

MODES = ("", "crash", "unready", "errors")
info = {
    "version": os.environ.get("APP_VERSION", "") or "0.0.0-dev",
    "commit": os.environ.get("APP_COMMIT", "") or "unknown",
    "broken": os.environ.get("BROKEN", ""),
}
if info["broken"] not in MODES:
    sys.exit("BROKEN=%s is not one of: %s" % (info["broken"], ", ".join(m for m in MODES if m)))
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(info, handle, sort_keys=True)
    handle.write("\n")
print("build info:", json.dumps(info, sort_keys=True))
