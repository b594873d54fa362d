"""The console in a real browser (headless Chromium via Selenium) with all five services.

An operator logs in, adds the partner server through the form, sees a file dropped on SFTP
reach ``notified`` in the files table (htmx updates the row), opens its timeline, and
uploads a file through the form until its md5 shows. Screenshots of each page land in the
test's temporary directory, or in ``INTAKE_SCREENSHOTS_DIR`` when set; docs/admin.md says
how to refresh the docs' own.
"""

import base64
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.harness import make_inbox, write_random

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str,
               interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except (StaleElementReferenceException, WebDriverException):
            result = None  # htmx swapped the element while we looked at it
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage", "--window-size=1440,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def fill(driver: WebDriver, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    chosen = os.environ.get("INTAKE_SCREENSHOTS_DIR")
    directory = Path(chosen).resolve() if chosen else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def shot(driver: WebDriver, directory: Path, name: str) -> None:
    """The whole page, however long (the timeline), as a laptop-wide PNG."""
    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
    picture = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 2400), "scale": 1},
    })
    (directory / f"{name}.png").write_bytes(base64.b64decode(picture["data"]))


def test_operator_journey(pipeline: Any, browser: WebDriver, sftp_server: Any,
                          admin_password: str, tmp_path: Path, screenshots: Path) -> None:
    admin = pipeline["admin"].url
    started = time.monotonic()

    browser.get(f"{admin}/servers")
    assert "/login" in browser.current_url
    fill(browser, {"username": "admin", "password": admin_password})
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait_until(lambda: browser.current_url.endswith("/servers"), timeout=10,
               what="the servers page after logging in")

    remote, local = make_inbox(sftp_server, "console")
    browser.get(f"{admin}/servers/new")
    fill(browser, {
        "name": "partner-console", "host": sftp_server.host, "port": str(sftp_server.port),
        "username": sftp_server.username, "password": sftp_server.password,
        "remote_dir": remote, "poll_interval_s": "1", "min_file_age_s": "1",
        "host_key": sftp_server.host_key,
    })
    browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_until(lambda: "Server partner-console added" in browser.page_source, timeout=10,
               what="the new server")
    assert sftp_server.password not in browser.page_source

    # The connection test button answers in place.
    browser.find_element(By.XPATH, "//tr[.//a[text()='partner-console']]"
                                   "//button[contains(., 'Test connection')]").click()
    wait_until(lambda: "Connected in" in browser.page_source, timeout=20,
               what="the connection test")
    shot(browser, screenshots, "servers")

    name = "quarterly <report> – ü.csv"
    digest = write_random(local / name, 3 * 1024 * 1024)

    # The file shows up in the table (reloaded until it is listed), then htmx keeps its row
    # up to date until it is notified.
    def listed() -> Any:
        browser.get(f"{admin}/files?q=quarterly")
        rows = browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")
        return rows[0] if rows else None

    row = wait_until(listed, timeout=60, what="the dropped file in the files table",
                     interval=1.0)
    row_id = row.get_attribute("id")
    wait_until(lambda: browser.find_element(By.ID, row_id).get_attribute("data-status")
               == "notified", timeout=90, what="the file to be notified")
    print(f"console: SFTP drop to notified in {time.monotonic() - started:.1f}s")
    assert browser.find_element(By.ID, row_id).text.startswith("notified")
    shot(browser, screenshots, "files")

    browser.find_element(By.ID, row_id).find_element(By.TAG_NAME, "a").click()
    wait_until(lambda: browser.find_elements(By.ID, "timeline"), timeout=10,
               what="the timeline")
    events = [e.get_attribute("data-event")
              for e in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
    assert events == ["discovered", "download_started", "downloaded", "upload_started",
                      "stored", "notified"]
    assert "MB/s" in browser.find_element(By.ID, "timeline").text
    assert browser.find_element(By.CSS_SELECTOR, "[data-sha256]").text == digest
    assert name in browser.find_element(By.TAG_NAME, "h1").text  # shown as text, escaped
    shot(browser, screenshots, "file-timeline")

    # Upload through the form; the page shows the id, then the md5 once it is stored.
    payload = tmp_path / "console upload.bin"
    payload.write_bytes(b"uploaded from the console\n" * 40_000)
    md5 = hashlib.md5(payload.read_bytes()).hexdigest()
    browser.get(f"{admin}/upload")
    browser.find_element(By.ID, "upload-file").send_keys(str(payload))
    browser.find_element(By.CSS_SELECTOR, "form[data-upload] button[type=submit]").click()
    upload_id = wait_until(lambda: browser.find_element(By.ID, "upload-id").text, timeout=20,
                           what="the upload's id")
    wait_until(lambda: browser.find_element(By.ID, "upload-progress").get_attribute(
        "data-status") == "notified", timeout=60, what="the upload to be notified")
    assert browser.find_element(By.ID, "upload-md5").text == md5
    assert len(upload_id) == 36
    shot(browser, screenshots, "upload")

    browser.get(f"{admin}/")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar"), timeout=10,
               what="the dashboard chart")
    assert "partner-console" in browser.page_source
    shot(browser, screenshots, "dashboard")
