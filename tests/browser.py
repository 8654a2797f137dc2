"""Headless Chromium (Debian's package) driven through Playwright, for tests that assert
on what a page really renders. Screenshots go to $YEARWHEEL_SCREENSHOTS (default
ci-artifacts/screenshots/ in the repository), which CI keeps as artifacts."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("YEARWHEEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("YEARWHEEL_SCREENSHOTS") or Path(__file__).resolve().parents[1] / "ci-artifacts" / "screenshots"
)


@dataclass
class Visit:
    """A page plus every console error and failed request it produced."""

    page: object
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="module")
def chromium():
    """Module-scoped: Playwright's sync API keeps an asyncio loop in the main thread while
    it runs, and Prefect's sync/async dispatch would then hand later tests coroutines."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("YEARWHEEL_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def visit(chromium):
    """visit(url, ignore=()) → Visit: opens ``url`` in a fresh context and waits until the
    network is idle. Console errors whose source URL ends with one of ``ignore`` are not
    counted (Prefect's UI asks for a favicon.ico it does not serve)."""
    contexts = []

    def open_(url: str, *, ignore: tuple[str, ...] = (), width: int = 1400, height: int = 1000) -> Visit:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        contexts.append(ctx)
        page = ctx.new_page()
        v = Visit(page)

        def on_console(msg) -> None:
            src = (msg.location or {}).get("url", "")
            if msg.type == "error" and not any(src.endswith(i) for i in ignore):
                v.errors.append(f"{msg.text} ({src})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: v.errors.append(f"uncaught: {exc}"))
        page.goto(url, wait_until="networkidle")
        return v

    yield open_
    for c in contexts:
        c.close()
