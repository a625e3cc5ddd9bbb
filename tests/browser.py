"""Debian's chromium, driven by Playwright: no browser is downloaded (scripts/install-system-packages.sh)."""

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: no calls home, no component updates.
QUIET = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic"]


def launch(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install-system-packages.sh installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
