"""A real browser for the dashboard tests: Debian's chromium and chromium-driver,
headless, driven through Selenium. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, build_dir, example_package  # noqa: F401  (fixtures)
from tests.server.conftest import exitsnoop_package  # noqa: F401  (a fixture)

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed (./scripts/setup installs them)")


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium at 1280x800, with a profile of its own; quit after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # as root, in a machine without a network beyond loopback: no sandbox, and none of
    # Chromium's background connections
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1280,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


@pytest.fixture
def firefox(tmp_path):
    """A headless Firefox driven through Marionette, Firefox's own remote protocol
    (marionette_driver, Mozilla's client: Debian 12 ships no geckodriver)."""
    try:
        from marionette_driver.marionette import Marionette
    except ImportError:
        pytest.skip("marionette_driver is not installed (./scripts/setup installs it)")
    if FIREFOX is None:
        pytest.skip("firefox-esr is not installed (./scripts/setup installs it)")
    import gc

    from tests.service import free_ports
    driver = Marionette(bin=FIREFOX, headless=True, port=free_ports()[0],
                        gecko_log=str(tmp_path / "gecko.log"), startup_timeout=120)
    driver.start_session()
    driver.set_window_rect(width=1280, height=800)
    try:
        yield driver
    finally:
        driver.delete_session()
        driver.cleanup()
        del driver
        gc.collect()            # its profile's cleanup must not wait for interpreter exit
