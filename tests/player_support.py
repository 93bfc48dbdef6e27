"""For the player's tests: headless Chromium, whether graphs render here, and the one line that
says when the browser tests skipped.

The tests drive Debian's ``chromium`` through its ``chromedriver`` with selenium
(``apt-get install chromium chromium-driver``; ``pip install selenium``). Without them the tests
skip, and the summary says so in one line; with ``TINYGRAD_CNN_REQUIRE_BROWSER=1`` (CI) they fail
instead. Loaded as a pytest plugin by ``conftest.py``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Optional, Tuple

import pytest

REQUIRE_BROWSER = os.environ.get("TINYGRAD_CNN_REQUIRE_BROWSER", "") not in ("", "0")
SKIP_PREFIX = "browser tests skipped"
INSTALL = "apt-get install chromium chromium-driver; pip install selenium"
# the flags that start Chromium cleanly in a container, with nothing fetched from the network
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,900", "--force-device-scale-factor=1")


def find_browser() -> Tuple[Optional[Tuple[str, str]], str]:
    """((chromium, chromedriver), '') when everything is here, else (None, what is missing)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, "selenium is not installed"
    chromium = os.environ.get("TINYGRAD_CNN_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if chromium is None:
        return None, "no chromium on PATH"
    driver = os.environ.get("TINYGRAD_CNN_CHROMEDRIVER") or shutil.which("chromedriver")
    if driver is None:
        return None, "no chromedriver on PATH"
    return (chromium, driver), ""


def unavailable(reason: str, remedy: str = INSTALL) -> None:
    """Skip (or, with TINYGRAD_CNN_REQUIRE_BROWSER=1, fail) a browser test that cannot run here."""
    if REQUIRE_BROWSER:
        pytest.fail(f"TINYGRAD_CNN_REQUIRE_BROWSER=1 but {reason} ({remedy})", pytrace=False)
    pytest.skip(f"{SKIP_PREFIX}: {reason} ({remedy})")


def render_problem() -> Optional[str]:
    """None when ``draw_graph``'s graphs render to SVG here, else why not (the page needs the SVG)."""
    from tinygrad_cnn import Tensor
    from tinygrad_cnn.viz import draw_graph

    x = Tensor([1.0, 2.0], requires_grad=True)
    try:
        draw_graph((x * x).sum()).pipe(format="svg")
    except Exception as err:  # graphviz.ExecutableNotFound, or a broken bundled renderer
        return f"graphs do not render here ({type(err).__name__})"
    return None


def start_chromium(profile_dir: str) -> Any:
    """A selenium driver for headless Chromium, logging the page's console (call .quit() after)."""
    found, reason = find_browser()
    if found is None:
        unavailable(reason)
    chromium, driver_path = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except Exception as err:  # a broken install: say what happened, then skip or fail
        unavailable(f"chromium did not start ({type(err).__name__}: {str(err).strip().splitlines()[0]})")


@pytest.fixture(scope="module")
def browser() -> Any:
    """One headless Chromium for a test module, with a fresh profile."""
    profile = tempfile.mkdtemp(prefix="tinygrad-cnn-chromium-")
    driver = start_chromium(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line when the browser tests skipped, however many they were."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if SKIP_PREFIX in str(getattr(r, "longrepr", ""))]
    if skipped:
        reason = str(skipped[0].longrepr[-1]) if isinstance(skipped[0].longrepr, tuple) else SKIP_PREFIX
        reason = reason.split("Skipped: ", 1)[-1]
        terminalreporter.write_line(f"{len(skipped)} {reason}; set TINYGRAD_CNN_REQUIRE_BROWSER=1 to make "
                                    "this an error")
