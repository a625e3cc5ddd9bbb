"""Debian's Chromium, driven by Playwright: no browser is downloaded (scripts/install-system-packages.sh).
Its headless shell, the build Playwright itself runs headless tests in: the same engine without the
browser's own UI, which spends half the CPU of the full browser per page (issue 38)."""

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium-headless-shell"
# The machine's network is closed: no calls home, no component updates.
QUIET = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic"]


def launch(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install-system-packages.sh installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
