"""Installs the Debian packages the test suite starts itself, when they are missing and we may (root).

PostgreSQL's server (initdb, pg_ctl) is needed by the PostgreSQL run; redis-server and chromium by the
end-to-end tests that use them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIRED = {
    # command → Debian package
    "initdb": "postgresql",
    "redis-server": "redis-server",
    "chromium": "chromium",
}


def _installed(command: str) -> bool:
    if shutil.which(command):
        return True
    return command == "initdb" and any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def main() -> int:
    missing = sorted({package for command, package in REQUIRED.items() if not _installed(command)})
    if not missing:
        return 0
    if os.geteuid() != 0:
        print(
            f"Missing Debian packages: {' '.join(missing)}. Install them: sudo apt-get install -y {' '.join(missing)}"
        )
        return 1 if os.environ.get("CI") == "true" else 0
    print(f"Installing Debian packages: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
