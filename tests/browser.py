"""Chromium for the browser tests: Debian's package where installed, else Playwright's own."""

from __future__ import annotations

import shutil
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str | None:
    """The system Chromium, or None to let Playwright use the browser it downloaded."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None
