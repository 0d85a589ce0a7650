"""Open gallery pages in Debian's headless chromium (driven by selenium through Debian's chromedriver:
nothing downloads a browser) and report what a person would see: console errors, score images and
their sizes, audio elements and their durations, and a screenshot."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--mute-audio", "--window-size=1400,1100"]

# Wait until every image has loaded or failed and every audio element knows its duration (or failed).
_READY = """
const imgs = [...document.images], audio = [...document.querySelectorAll('audio')];
return document.readyState === 'complete' && imgs.every(i => i.complete)
    && audio.every(a => a.readyState >= 1 || a.error !== null);
"""
_STATE = """
return {
  images: [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight,
                                         i.getBoundingClientRect().width, i.getBoundingClientRect().height]),
  audio: [...document.querySelectorAll('audio')].map(a => [a.getAttribute('src'), a.duration,
                                                           a.error ? a.error.code : 0]),
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
};
"""


def missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} not installed (`make setup` as root installs Debian's {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -r requirements-dev.txt)"
    return None


@dataclass
class Page:
    url: str
    console: list[str] = field(default_factory=list)   # SEVERE entries of the browser log
    images: list[tuple] = field(default_factory=list)  # (src, natural w, natural h, shown w, shown h)
    audio: list[tuple] = field(default_factory=list)   # (src, duration in seconds, MediaError code)
    links: list[str] = field(default_factory=list)


class Browser:
    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="abcrnn-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)

    def open(self, path: Path, timeout: float = 60.0) -> Page:
        driver = self.driver
        driver.get(path.resolve().as_uri())
        end = time.monotonic() + timeout
        while not driver.execute_script(_READY):
            if time.monotonic() > end:
                raise TimeoutError(f"{path}: images or audio still loading after {timeout:g} s")
            time.sleep(0.2)
        state = driver.execute_script(_STATE)
        console = [f"{e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        return Page(driver.current_url, console, [tuple(i) for i in state["images"]],
                    [tuple(a) for a in state["audio"]], state["links"])

    def screenshot(self, path: Path, target: Path) -> None:
        """A screenshot of the page at `path` as a person first sees it."""
        self.open(path)
        self.driver.save_screenshot(str(target))

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
