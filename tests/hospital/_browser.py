"""A real headless browser for the viewer tests: Debian's Chromium driven by Playwright's Python API.

Playwright's own browser downloads are never used (no ``playwright install``): the browser is the system
Chromium at :data:`CHROMIUM`, started with a fresh profile folder, no GPU (software rendering), no background
networking, and every request that leaves 127.0.0.1 aborted, so a page can only reach the local test servers.
Without the ``browser`` extra (playwright) or without Chromium (``apt-get install -y chromium``; ``.ci/run``
does) the calling test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[browser]'; .ci/run does)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")


def _local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://127.0.0.1/", "data:", "blob:", "about:"))


@contextlib.contextmanager
def chromium_page(profile: Path, console_log: Path, width: int = 1600, height: int = 1000):
    """A page in a fresh Chromium profile at ``profile``; the page's console messages and errors go to ``console_log``."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, open(console_log, "w", encoding="utf-8") as log:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": width, "height": height})
        try:
            context.route(lambda url: not _local(url), lambda route: route.abort())
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda m: log.write(f"[{m.type}] {m.text}\n"))
            page.on("pageerror", lambda e: log.write(f"[pageerror] {e}\n"))
            yield page
        finally:
            context.close()
