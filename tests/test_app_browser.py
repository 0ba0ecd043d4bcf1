"""The workshop app in a real browser: `retention-sim app` on a loopback port, driven by
selenium with the system's Chromium (Debian's ``chromium`` and ``chromium-driver``).

The page loads with no internet (solara-assets serves its JavaScript), Step twice moves the month
counter from 0 to 2 and redraws the dots and the plots, and a screenshot is saved (to
``$RETENTION_SIM_SCREENSHOT`` if set, else the test's temporary folder).

Where no Chromium is installed the test is skipped and says why; with ``RETENTION_SIM_BROWSER=1``
(set by ``.ci/run``, which installs Chromium) a missing browser fails instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRED = os.environ.get("RETENTION_SIM_BROWSER") == "1"


def _browser_or_skip() -> tuple[str, str]:
    missing = [
        name
        for name, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
        if path is None
    ]
    if missing:
        reason = (
            f"no {' or '.join(missing)} on PATH: install Debian's chromium and chromium-driver "
            "(apt-get install --no-install-recommends chromium chromium-driver) to run it"
        )
        if REQUIRED:
            pytest.fail(f"RETENTION_SIM_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return CHROMIUM, CHROMEDRIVER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """``retention-sim app`` on a free loopback port; stopped (its process group) afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "app", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so that stopping it stops all of it
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace")
                pytest.fail(f"the app stopped with status {process.returncode}:\n{output}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer on {url} within 60 s")
            time.sleep(0.25)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        process.stdout.close()


def test_the_page_loads_and_steps_in_chromium(server, tmp_path):
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1600,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 60)
        month = wait.until(lambda d: d.find_element(By.ID, "rs-month"))
        assert month.text.startswith("Month 0 of")

        def images() -> list[str]:
            return [img.get_attribute("src") for img in driver.find_elements(By.TAG_NAME, "img")]

        before = images()
        assert len(before) >= 3  # the dots of two markets and the plots

        def step_button():
            buttons = driver.find_elements(By.TAG_NAME, "button")
            return next(b for b in buttons if b.text.strip().lower() == "step")

        for expected in (1, 2):
            step_button().click()
            wait.until(
                lambda d, n=expected: d.find_element(By.ID, "rs-month").text.startswith(
                    f"Month {n} of"
                )
            )
        wait.until(lambda d: len(images()) == len(before) and images() != before)
        after = images()
        assert all(a != b for a, b in zip(before, after, strict=True))

        shot = Path(os.environ.get("RETENTION_SIM_SCREENSHOT") or tmp_path / "workshop-app.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
