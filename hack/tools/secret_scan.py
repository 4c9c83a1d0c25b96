#!/usr/bin/env python3
"""Secret scanning of the working tree with detect-secrets, against the reviewed baseline .secrets.baseline.

Scans every file git knows or would add (tracked, and untracked but not ignored) with the plugins and filters the
baseline names, and fails on any finding the baseline does not list (same file, same secret hash, same type).
The baseline lists the known fake values of the demo and of the tests, each audited as not a secret; it is read,
never rewritten. `make security` runs it:

    .venv/bin/python hack/tools/secret_scan.py [--baseline .secrets.baseline] [FILE ...]

Findings are printed as file:line and detector type, never with the value.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core.secrets_collection import SecretsCollection

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ".secrets.baseline"
HELP = (
    "A real secret: remove it and rotate it (it may be in the history). A fake one (test or demo value): add it "
    "to the baseline with `.venv/bin/detect-secrets scan --baseline .secrets.baseline $(git ls-files)` and mark "
    "it with `.venv/bin/detect-secrets audit .secrets.baseline`."
)


def files_to_scan(root):
    """Relative paths of the files git tracks or would add (ignored files left out), that exist."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    return sorted({name for name in listed if name and name != BASELINE and (Path(root) / name).is_file()})


def new_secrets(files, baseline_path, root):
    """(file, line, type) of each finding in files that the baseline does not list.

    files and baseline_path are relative to root (the working directory while it scans), like the baseline's
    entries. The baseline's plugins and filters configure the scan.
    """
    previous = os.getcwd()
    os.chdir(root)
    try:
        known = ds_baseline.load(ds_baseline.load_from_file(str(baseline_path)), str(baseline_path))
        found = SecretsCollection()
        found.scan_files(*files)
    finally:
        os.chdir(previous)
    unknown = found - known
    return sorted(
        (secret.filename, secret.line_number, secret.type) for filename in unknown.files for secret in unknown[filename]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="relative to the repository root")
    parser.add_argument("files", nargs="*", help="files relative to the repository root (default: the tree)")
    args = parser.parse_args(argv)

    files = args.files or files_to_scan(ROOT)
    findings = new_secrets(files, args.baseline, ROOT)
    if findings:
        print(f"Secret scan failed: {len(findings)} finding(s) not in {args.baseline}:", file=sys.stderr)
        for filename, line, kind in findings:
            print(f"  {filename}:{line}: {kind}", file=sys.stderr)
        print(HELP, file=sys.stderr)
        return 1
    print(f"Secret scan passed: {len(files)} files, no finding outside {args.baseline}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
