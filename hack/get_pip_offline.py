"""Offline stand-in for ansible-test's get-pip bootstrap script.

ansible-test sanity --venv downloads get-pip-<version>.py from a host our build machines cannot reach.
It runs the script as `python get_pip.py <pip options> pip==X setuptools==Y --no-setuptools --no-wheel`.
This stand-in bootstraps pip with the standard library's ensurepip, then installs the pinned packages
with pip itself, pointing it at the system CA bundle (ansible-test scrubs the environment that names it).
"""

import os
import subprocess
import sys

DROPPED_FLAGS = {"--no-setuptools", "--no-wheel"}
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def main(argv):
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    arguments = [arg for arg in argv if arg not in DROPPED_FLAGS]
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    if os.path.exists(SYSTEM_CA_BUNDLE):
        command += ["--cert", SYSTEM_CA_BUNDLE]
    subprocess.check_call(command + arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
