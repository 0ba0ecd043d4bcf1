"""The workshop app in a real browser: `retention-sim app` on a loopback port, driven by selenium
with the system's Chromium (Debian's ``chromium`` and ``chromium-driver``) at 1280x800.

Each test replays one defect of issue 15 as a trainer's steps and asserts the fixed behaviour:
the controls after a finished run, Reset with the shown settings, a rung change during play,
the fastest interval against the headless replay, the layout at 1280x800 (bounding boxes), and a
reload that keeps the settings. Screenshots of each workshop block's preset are saved to
``$RETENTION_SIM_SCREENSHOTS`` if set, else the test's temporary folder.

Where no Chromium is installed the tests are skipped and say why; with ``RETENTION_SIM_BROWSER=1``
(set by ``.ci/run``, which installs Chromium) a missing browser fails instead. Every wait is
bounded, and the browser talks only to 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from sim import app

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRED = os.environ.get("RETENTION_SIM_BROWSER") == "1"
WAIT_S = 90  # the longest any step may take (the machine may be shared)


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
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    return CHROMIUM, CHROMEDRIVER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``retention-sim app`` on a free loopback port; stopped (its process group) afterwards."""
    _browser_or_skip()
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
        output = process.stdout.read().decode(errors="replace")
        process.stdout.close()
        assert "Warning" not in output, output  # no warning on page loads


@pytest.fixture(scope="module")
def driver(server):
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(chromedriver), options=options)
    d.set_page_load_timeout(WAIT_S)
    d.execute_cdp_cmd(  # the viewport itself is 1280x800, as on the projector
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    yield d
    d.quit()


class Page:
    """The app in the browser, with the trainer's actions."""

    def __init__(self, driver, server: str, settings: app.Settings | None = None):
        from selenium.webdriver.support.ui import WebDriverWait

        self.d = driver
        self.wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.1)
        query = f"?{urlencode(settings.to_query())}" if settings else ""
        driver.get(f"{server}{query}")
        self.wait.until(lambda d: self.month() == 0)

    def soon(self, test, what: str, seconds: float = 10.0) -> None:
        """Wait up to ``seconds`` (the page's widgets update in a few messages) for ``test``."""
        deadline = time.monotonic() + seconds
        while not test():
            assert time.monotonic() < deadline, f"not {what} within {seconds:g} s"
            time.sleep(0.1)

    def _by_id(self, id_: str) -> str:
        from selenium.webdriver.common.by import By

        found = self.d.find_elements(By.ID, id_)
        try:
            return found[0].text if found else ""
        except Exception:  # redrawn while being read
            return ""

    def month(self) -> int | None:
        match = re.match(r"Month (\d+) of", self._by_id("rs-month"))
        return int(match.group(1)) if match else None

    def notice(self) -> str:
        return self._by_id("rs-notice")

    def button(self, label: str):
        from selenium.webdriver.common.by import By

        found = self.d.find_elements(By.XPATH, f"//button[normalize-space()='{label}']")
        if not found:
            raise AssertionError(f"no button {label!r}")
        return found[0]

    def click(self, label: str) -> None:
        self.wait.until(lambda d: self._enabled(label))
        self.button(label).click()

    def _enabled(self, label: str) -> bool:
        try:
            return self.button(label).is_enabled()
        except Exception:
            return False

    def rung_button(self, firm: int, label: str):
        from selenium.webdriver.common.by import By

        for b in self.d.find_elements(By.CSS_SELECTOR, f".rs-rungs-{firm} button"):
            if b.text.strip() == label:
                return b
        raise AssertionError(f"no rung {label!r} on firm {firm}")

    def until_month(self, test) -> int:
        self.wait.until(lambda d: (m := self.month()) is not None and test(m))
        month = self.month()
        assert month is not None
        return month

    def cards_text(self) -> str:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        try:
            return " ".join(e.text for e in self.d.find_elements(By.CSS_SELECTOR, ".rs-numbers"))
        except StaleElementReferenceException:  # redrawn while being read: read again later
            return ""

    def customers(self) -> list[int]:
        return [
            int(n.replace(",", "")) for n in re.findall(r"customers ([\d,]+)", self.cards_text())
        ]


SMALL = app.Settings(market_size=300, months=24, seed=7)


def test_controls_work_after_a_finished_run(driver, server):
    # 240 months, so that the run is still playing when Pause is pressed below
    page = Page(driver, server, app.Settings(market_size=200, months=240, seed=3))
    page.click("Run to end")
    assert page.until_month(lambda m: m == 240) == 240
    page.rung_button(0, "Poor").click()  # defect 1: a change after the end
    page.until_month(lambda m: m == 0)
    page.soon(lambda: page._enabled("▶ Play") and page._enabled("Step"), "controls enabled")
    page.click("Step")
    page.until_month(lambda m: m == 1)
    page.click("▶ Play")
    page.until_month(lambda m: m >= 3)
    page.click("⏸ Pause")
    page.soon(lambda: page._enabled("▶ Play"), "paused")  # the paused page is drawn
    month = page.month()
    time.sleep(1)
    assert page.month() == month


def test_reset_replays_the_shown_settings(driver, server):
    page = Page(driver, server, replace_(SMALL, churn_rule="strikes"))
    page.rung_button(0, "Acceptable").click()  # month 0: a new run on that rung
    for n in range(1, 7):
        page.click("Step")
        page.until_month(lambda m, n=n: m == n)
    page.click("Reset")
    page.until_month(lambda m: m == 0)
    assert "Strikes" in page._by_id("rs-month") or "Strikes" in driver.page_source
    page.wait.until(lambda d: "delivers Acceptable" in page.cards_text())


def replace_(settings, **kw):
    from dataclasses import replace

    return replace(settings, **kw)


def test_a_rung_change_during_play_applies_without_a_freeze(driver, server):
    settings = app.Settings(market_size=200, months=60, seed=4)
    page = Page(driver, server, settings)
    page.click("▶ Play")
    page.until_month(lambda m: m >= 3)
    page.rung_button(1, "World class").click()
    page.wait.until(lambda d: "moves to World class" in page.notice())
    changed = int(re.search(r"from month (\d+)", page.notice()).group(1))
    page.until_month(lambda m: m >= changed + 2)  # the month keeps counting
    page.click("⏸ Pause")
    page.wait.until(lambda d: page._enabled("▶ Play"))
    month = page.month()
    assert month is not None
    replay = app.WorkshopModel(settings, [app.RungChange(changed, 1, "world_class")])
    for _ in range(month):
        replay.step()
    assert page.customers() == [f.customers for f in replay.view().firms]


def test_the_fastest_interval_gives_the_headless_replay(driver, server):
    from selenium.webdriver.common.by import By

    settings = app.Settings(market_size=300, months=48, seed=9, layout=app.COMPETING)
    page = Page(driver, server, settings)
    from selenium.webdriver.common.action_chains import ActionChains

    slider = driver.find_element(By.CSS_SELECTOR, ".rs-controls .v-slider")
    width = slider.size["width"]
    ActionChains(driver).move_to_element_with_offset(slider, -width // 2 + 1, 0).click().perform()
    page.wait.until(lambda d: "pause between months: 0 ms" in d.page_source)
    page.click("▶ Play")
    page.until_month(lambda m: m == 48)
    replay = app.WorkshopModel(settings)
    for _ in range(48):
        replay.step()
    page.wait.until(lambda d: page.customers() == [f.customers for f in replay.view().firms])


def _rect(driver, element) -> dict:
    return driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", element)


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


@pytest.mark.parametrize("zoom", [1.0, 0.9])
def test_three_firms_and_six_rungs_fit_at_1280x800(driver, server, zoom):
    from selenium.webdriver.common.by import By

    settings = app.Settings(ladder="six", rungs=("expected", "desired", "unbelievable"))
    page = Page(driver, server, replace_(settings, market_size=300))
    driver.execute_script(f"document.body.style.zoom = '{zoom}'")
    width = driver.execute_script("return document.documentElement.clientWidth") / zoom
    play = _rect(driver, page.button("▶ Play"))
    cards = driver.find_elements(By.CSS_SELECTOR, ".rs-cards > *")
    assert len(cards) == 3
    for k, card in enumerate(cards):
        box = _rect(driver, card)
        assert box["right"] <= width + 0.5, f"card {k} runs off the right edge: {box}"
        labels = [_rect(driver, b) for b in card.find_elements(By.CSS_SELECTOR, ".rs-rung-btn")]
        assert len(labels) == 6
        for i, a in enumerate(labels):
            assert box["left"] <= a["left"] and a["right"] <= box["right"] + 0.5
            assert not any(_overlap(a, b) for b in labels[i + 1 :]), "rung labels overlap"
    # plot text: FONT points at the figure's dpi, scaled to the image's width on screen
    img = driver.find_element(By.CSS_SELECTOR, ".rs-plots img, img.rs-plots")
    natural, shown = driver.execute_script(
        "return [arguments[0].naturalWidth, arguments[0].getBoundingClientRect().width]", img
    )
    text_px = app.figures.FONT * app.figures.SCREEN_DPI / 72 * shown / natural * zoom
    assert text_px >= 14, f"plot text {text_px:.1f} px"
    # the controls stay in one place after a change
    page.rung_button(0, "Surprising").click()
    page.wait.until(lambda d: "delivers Surprising" in page.cards_text())
    assert _rect(driver, page.button("▶ Play")) == play
    driver.execute_script("document.body.style.zoom = '1'")


def test_a_reload_keeps_the_settings(driver, server):
    page = Page(driver, server, SMALL)
    page.click("Block 3 · why world class takes years")
    page.wait.until(lambda d: "competing in one market" in page._by_id("rs-month") + d.page_source)
    page.wait.until(lambda d: "recognised=good" in d.current_url)
    driver.refresh()
    page.wait.until(lambda d: page.month() == 0)
    page.wait.until(lambda d: "delivers World class, still recognised as Good" in page.cards_text())
    query = dict(parse_qsl(urlsplit(driver.current_url).query))
    assert app.Settings.from_query(query) == app.PRESETS["Block 3 · why world class takes years"]


def test_screenshots_of_each_preset(driver, server, tmp_path):
    folder = Path(os.environ.get("RETENTION_SIM_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, preset) in enumerate(app.PRESETS.items(), start=1):
        page = Page(driver, server, preset)
        for n in range(1, 4):
            page.click("Step")
            page.until_month(lambda m, n=n: m == n)
        shot = folder / f"workshop-block{i}.png"
        assert driver.save_screenshot(str(shot)), name
        assert shot.stat().st_size > 10_000
