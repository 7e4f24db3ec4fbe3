"""The page in headless Chromium (Debian's, driven by Playwright) against a real uvicorn server: submit a review,
see the labels and the reply streaming in, equal to what the API answers.

Skipped where Chromium or Playwright is missing, unless ``Z2H_REQUIRE_BROWSER=1`` (CI sets it): then it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import LABELS, REVIEW
from tests.app.held_desk import HeldDesk
from tests.app.test_api import parse_sse
from zero2hero.app.screenshot import CHROMIUM, FINISHED, launch_browser, page_screenshot, read_page


def _browser_missing() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return "" if CHROMIUM.is_file() else f"no Chromium at {CHROMIUM}"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    missing = _browser_missing()
    if missing and os.environ.get("Z2H_REQUIRE_BROWSER") == "1":
        pytest.fail(f"Z2H_REQUIRE_BROWSER=1 but {missing}: apt-get install chromium; pip install playwright==1.65.2")
    if missing:
        pytest.skip(missing)


def test_the_page_shows_the_labels_and_the_apis_reply(served: str, tmp_path: Path) -> None:
    shown = page_screenshot(served, tmp_path / "page.png", REVIEW)
    api_labels = httpx.post(f"{served}/api/classify", json={"text": REVIEW}).json()
    api_reply = parse_sse(httpx.post(f"{served}/api/reply", json={"text": REVIEW}).text)[-1][1]
    assert shown["error"] is None and shown["state"] == "done"
    assert shown["reply"] == api_reply["text"] and shown["pieces"] == api_reply["pieces"] > 1
    assert list(shown["labels"]) == list(LABELS)
    for label in LABELS:
        assert shown["labels"][label]["predicted"] == api_labels["predicted"][label]
        assert shown["labels"][label]["probabilities"] == api_labels["probabilities"][label]
        assert shown["labels"][label]["shown"] == [f"{100 * p:.1f}%" for p in api_labels["probabilities"][label]
                                                   .values()]
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_reply_appears_while_it_is_written_and_errors_are_shown(transformers_desk) -> None:
    from playwright.sync_api import sync_playwright

    from zero2hero.app.background import serving
    from zero2hero.app.server import create_app

    held = HeldDesk(transformers_desk, "Thank you,", " we are glad.")
    with serving(create_app(held, transformers_desk.limits)) as base_url, sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            page = browser.new_page()
            page.goto(base_url)
            page.fill("#review", REVIEW)
            page.click("#submit")
            page.wait_for_selector('#reply[data-state="streaming"][data-pieces="1"]', timeout=30_000)
            assert read_page(page)["reply"] == "Thank you,"  # the first piece is shown before the second exists
            held.release.set()
            page.wait_for_selector(FINISHED, timeout=30_000)
            assert read_page(page)["reply"] == "Thank you, we are glad."
            page.fill("#review", "x" * (transformers_desk.limits.max_review_chars + 1))
            page.click("#submit")
            page.wait_for_selector("#error:not([hidden])", timeout=30_000)
            assert "at most 4000 are accepted" in read_page(page)["error"]
        finally:
            browser.close()
