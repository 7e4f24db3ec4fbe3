"""The review desk's page in a real browser: Debian's headless Chromium, driven by Playwright.

:func:`page_screenshot` opens the page, pastes a review, submits it, waits until the reply has finished streaming
(or an error is shown), saves a PNG and returns what the page showed, read from the page itself. Playwright's own
browser download is not used: it launches the system's ``chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zero2hero.errors import AssetMissingError, Zero2HeroError
from zero2hero.files import atomic_write_bytes

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_HINT = "install both: sudo apt-get install chromium, then .venv/bin/pip install playwright==1.65.2"
FINISHED = '#reply[data-state="done"], #error:not([hidden])'  # the page's two ways of being finished
READ_PAGE = """() => {
  const labels = {};
  for (const group of document.querySelectorAll("#labels .label")) {
    const rows = [...group.querySelectorAll(".row")];
    labels[group.dataset.label] = {
      predicted: group.querySelector(".row.predicted").dataset.name,
      probabilities: Object.fromEntries(rows.map((row) => [row.dataset.name, Number(row.dataset.probability)])),
      shown: rows.map((row) => row.querySelector(".pct").textContent),
    };
  }
  const reply = document.getElementById("reply");
  const error = document.getElementById("error");
  return {labels, reply: reply.textContent, state: reply.dataset.state, pieces: Number(reply.dataset.pieces || 0),
          error: error.hidden ? null : error.textContent};
}"""


def launch_browser(playwright: Any, chromium: Path = CHROMIUM) -> Any:
    """Headless Chromium from ``chromium`` (sandbox off: it runs as root in containers and CI)."""
    if not chromium.is_file():
        raise AssetMissingError(f"no Chromium at {chromium}", BROWSER_HINT)
    return playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])


def read_page(page: Any) -> dict[str, Any]:
    """What the page shows: per label the predicted class and the probabilities, the reply, its state, any error."""
    return page.evaluate(READ_PAGE)


def page_screenshot(base_url: str, out_png: Path, review: str, timeout_s: float = 60.0,
                    chromium: Path = CHROMIUM) -> dict[str, Any]:
    """Submit ``review`` on the page at ``base_url``, wait for the reply, save the page to ``out_png``; return
    :func:`read_page`'s answer."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise AssetMissingError("Playwright is not installed", BROWSER_HINT) from None
    with sync_playwright() as playwright:
        browser = launch_browser(playwright, chromium)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.goto(base_url)
            page.fill("#review", review)
            page.click("#submit")
            page.wait_for_selector(FINISHED, timeout=timeout_s * 1000)
            shown = read_page(page)
            atomic_write_bytes(Path(out_png), page.screenshot(full_page=True))
        except PlaywrightError as err:
            raise Zero2HeroError(f"the browser could not finish the page ({str(err).splitlines()[0]})",
                                 f"check that the review desk answers at {base_url}") from None
        finally:
            browser.close()
    return shown
