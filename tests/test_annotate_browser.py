"""feedback-notebook.html in headless Chromium with every request off the machine blocked: hostile notebooks run
nothing and fetch nothing, at desktop and phone widths. Skipped like tests/test_browser.py (CI requires it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.reporting.annotate import PAGE_FILE
from tests.conftest import run_cli, sandbox_mode
from tests.test_browser import CHROMEDRIVER, CHROMIUM, FLAGS, MISSING, png_size

#: What a payload does if it ever runs: the test looks for both marks.
RUN = "document.title='pwned';document.documentElement.dataset.pwned='1'"
BEACON = "http://127.0.0.1:9"
HOSTILE_MARKDOWN = f"""# My work

<script>{RUN}</script>
<img src="x" onerror="{RUN}"> <svg onload="{RUN}"></svg> <details open ontoggle="{RUN}"></details>
<img src="{BEACON}/beacon.png"> <iframe src="{BEACON}/frame"></iframe> <object data="{BEACON}/o"></object>
<link rel="stylesheet" href="{BEACON}/x.css"> <style>@import url({BEACON}/i.css); body {{ background: url({BEACON}/b.png) }}</style>
<meta http-equiv="refresh" content="0;url={BEACON}/refresh"> <base href="{BEACON}/">
<a href="javascript:{RUN}">click</a> $$\\href{{javascript:{RUN}}}{{math}}$$ ![remote]({BEACON}/md.png)
"""
HOSTILE_CODE = f"""import numpy as np

def zero_pad(X, pad):
    print("<script>{RUN}</script><img src=x onerror=\\"{RUN}\\">")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) + 1
"""
HOSTILE_OUTPUTS = [
    new_output("display_data", data={"text/html": f"<script>{RUN}</script><img src='{BEACON}/out.png'>",
                                     "application/javascript": RUN, "image/svg+xml": f"<svg onload=\"{RUN}\"/>",
                                     "text/markdown": f"<img src=x onerror=\"{RUN}\">"}),
    new_output("stream", name="stdout", text=f"<script>{RUN}</script>\n"),
    new_output("execute_result", data={"text/plain": "1", "text/html": f"<img src=x onerror=\"{RUN}\">"}, execution_count=1),
]
BLOCKED = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
WIDTHS = {"desktop": (1200, 1600), "phone": (400, 900)}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium that logs every network request and blocks any that leaves the machine (file: pages still load)."""
    if MISSING:
        pytest.fail(f"GRADER_REQUIRE_BROWSER is set but the browser tests cannot run, missing: {', '.join(MISSING)}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-annotated")
    magics = [new_code_cell(f"%%{magic}\n<script>{RUN}</script><img src=x onerror=\"{RUN}\">") for magic in ("html", "javascript")]
    notebook = new_notebook(cells=[new_markdown_cell(HOSTILE_MARKDOWN), new_code_cell(HOSTILE_CODE, outputs=HOSTILE_OUTPUTS),
                                   *magics])
    nbformat.write(notebook, folder / "hostile.ipynb")
    run_cli("grade", "cnn_step_by_step", folder / "hostile.ipynb", "--out", folder / "out", "--sandbox", sandbox_mode(),
            check=True)
    return folder / "out" / "hostile"


def _settled_log(driver: Any, quiet: float = 0.3, most: float = 5.0) -> list[dict[str, Any]]:
    """The performance log once it has been quiet for ``quiet`` seconds (at most ``most``): the browser's events reach
    the driver after the page's load event, later still on a busy machine (a run under coverage missed all of them)."""
    entries: list[dict[str, Any]] = []
    deadline = time.monotonic() + most
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet and time.monotonic() < deadline:
        new = driver.get_log("performance")
        if new:
            entries += new
            quiet_since = time.monotonic()
        time.sleep(0.05)
    return entries


def load(driver: Any, page: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Open ``page``; each URL off the machine the page asked for (even one refused before it was sent), with the
    reason it was refused ("csp", "inspector" for the test's block list, "" if it was not), and the console."""
    driver.get_log("performance")
    driver.get_log("browser")
    driver.get(page.as_uri())
    urls: dict[str, str] = {}
    refused: dict[str, str] = {}
    for entry in _settled_log(driver):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent" and not message["params"].get("documentURL", "").startswith(
                "chrome:"):  # the browser's own pages (the new tab page a fresh browser opens first) are not the page's
            urls[message["params"]["requestId"]] = message["params"]["request"]["url"]
        elif message["method"] == "Network.loadingFailed":
            refused[message["params"]["requestId"]] = message["params"].get("blockedReason") or ""
    remote = {url: refused.get(key, "") for key, url in urls.items() if not url.startswith(("file:", "data:"))}
    return remote, list(driver.get_log("browser"))


def assert_nothing_ran(driver: Any, page: Path) -> None:
    assert driver.current_url == page.as_uri()  # no refresh, no navigation
    assert "pwned" not in driver.title
    assert driver.execute_script("return document.documentElement.dataset.pwned") is None


@pytest.mark.parametrize("width", WIDTHS)
def test_the_annotated_page_runs_and_fetches_nothing(width: str, graded: Path, browser: Any, tmp_path: Path) -> None:
    browser.set_window_size(*WIDTHS[width])
    page = graded / PAGE_FILE
    requests, console = load(browser, page)
    assert_nothing_ran(browser, page)
    assert requests == {}  # not even asked for
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in resources if not url.startswith(("file:", "data:"))] == []
    assert browser.title.startswith("Feedback: ")
    # The allow-list removed everything first: not even the Content-Security-Policy had to refuse anything.
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []
    text = browser.find_element("tag name", "body").text
    assert f"<script>{RUN}</script>" in text  # the student's markup is shown as text, not run
    assert "output not shown in the feedback" in text and "Feedback on zero_pad" in text
    pictures = browser.execute_script(
        "return Array.from(document.images, i => [i.src.slice(0, 26), i.complete, i.naturalWidth])")
    assert ["data:image/svg+xml;base64,", True] in [p[:2] for p in pictures]  # the expected/got/difference picture
    assert all(src.startswith("data:") for src, _, _ in pictures if src)
    overflow = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} width"
    shot = tmp_path / f"{width}.png"
    assert browser.save_screenshot(str(shot))
    assert png_size(shot.read_bytes())[0] > 0


def test_the_content_security_policy_holds_when_markup_gets_past_the_allow_list(graded: Path, browser: Any,
                                                                              tmp_path: Path) -> None:
    """Defence in depth: the payload put straight into the page (as if the allow-list had a hole) still cannot run
    or fetch anything: with the test's block list off, the policy alone refuses every request before it is sent.
    (A meta refresh is the allow-list's alone to stop: a policy does not cover navigation.)"""
    raw = HOSTILE_MARKDOWN.replace(f'<meta http-equiv="refresh" content="0;url={BEACON}/refresh">', "")
    page = tmp_path / PAGE_FILE
    page.write_text((graded / PAGE_FILE).read_text().replace("<main>", "<main>" + raw, 1))
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    try:
        requests, console = load(browser, page)
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED})
    assert_nothing_ran(browser, page)
    assert requests and set(requests.values()) == {"csp"}, requests
    assert any("Content Security Policy" in entry["message"] for entry in console)


def test_the_feedback_page_links_to_the_annotated_page(graded: Path, browser: Any) -> None:
    load(browser, graded / "feedback.html")
    browser.find_element("css selector", "#annotated a[href='feedback-notebook.html']").click()
    assert browser.current_url == (graded / PAGE_FILE).as_uri() and browser.title.startswith("Feedback: ")
    assert browser.find_element("css selector", "a[href='feedback.html']")
