"""The workshop app's server over many browser sessions: resident memory and CPU after each.

Run from the repository root (needs Debian's ``chromium`` and ``chromium-driver``)::

    .venv/bin/python bench/app_sessions.py            # 50 sessions
    .venv/bin/python bench/app_sessions.py --sessions 10

It starts ``retention-sim app`` on a free loopback port, then opens the page ``--sessions``
times in headless Chromium, one after the other: each session steps once and presses Play (at
the default 2,000 people per market), then the browser moves on to the next session, which
closes the previous page (as a closed tab does). After every tenth session, and 10 s after the
last one has closed, it prints the server's resident memory (``VmRSS``) and the CPU seconds it
used over the last 5 s (a closed session must stop computing). It prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and its children, MB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "app", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"):
        options.add_argument(flag)
    driver = None
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.25)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        wait = WebDriverWait(driver, 120)

        def button(label: str):
            return next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == label)

        def report(label: str) -> None:
            before = cpu_seconds(server.pid)
            time.sleep(5)
            used = cpu_seconds(server.pid) - before
            print(
                f"{label:>28}: {rss_mb(server.pid):7.0f} MB, {used:4.1f} CPU s in 5 s", flush=True
            )

        report("before any session")
        for n in range(1, args.sessions + 1):
            driver.get(url)
            wait.until(lambda d: d.find_elements(By.ID, "rs-month"))
            wait.until(lambda d: button("Step").is_enabled())
            button("Step").click()
            wait.until(lambda d: "Month 1 of" in d.find_element(By.ID, "rs-month").text)
            button("▶ Play").click()
            if n % 10 == 0:
                report(f"after {n} sessions")
        driver.get("about:blank")  # closes the last session's page
        time.sleep(10)
        report("all closed, 10 s later")
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
