"""A headless Chromium driven by selenium, with the waits and checks the tests share.

Every wait is a WebDriverWait on something the page shows; nothing sleeps. The browser
log (console messages, CSP reports, failed loads) is read after each test.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_DIR / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (375, 812)
WAIT_SECONDS = 20


@dataclass
class Browser:
    driver: webdriver.Chrome
    base: str
    downloads: Path
    #: HTTP statuses a test provokes on purpose (a wrong password is a 401 the console shows)
    expected_statuses: set[int] = field(default_factory=set)
    screenshots: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, base: str, downloads: Path) -> "Browser":
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",  # root in CI containers
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        return cls(driver, base.rstrip("/") + "/", downloads)

    def quit(self) -> None:
        self.driver.quit()

    # --- navigation and lookup -------------------------------------------------

    def open(self, hash_route: str = "") -> None:
        """Load the app (a full page load, even when only the hash differs) at `#/route`."""
        self.driver.get("about:blank")
        self.driver.get(self.base + hash_route)

    def go(self, hash_route: str) -> None:
        """Change route inside the loaded app (no reload)."""
        self.driver.execute_script("location.hash = arguments[0]", hash_route)

    def until(self, what: str, probe: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
        def attempt(_: Any) -> Any:
            try:
                return probe()
            except StaleElementReferenceException:  # the page redrew between find and read
                return None

        return WebDriverWait(self.driver, seconds, poll_frequency=0.2, ignored_exceptions=()).until(
            attempt, message=f"waiting for {what}"
        )

    def find(self, css: str, seconds: float = WAIT_SECONDS) -> WebElement:
        return self.until(f"element {css}", lambda: self._visible(css), seconds)

    def _visible(self, css: str) -> WebElement | None:
        found = [e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return found[0] if found else None

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def texts(self, css: str) -> list[str]:
        """The text of every match, read in one script (a live page may redraw between reads)."""
        return list(self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", css
        ))

    def attributes(self, css: str, name: str) -> list[str]:
        return list(self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]))", css, name
        ))

    def count(self, css: str) -> int:
        return int(self.driver.execute_script("return document.querySelectorAll(arguments[0]).length", css))

    def text(self, css: str) -> str:
        """The visible text of the first match ('' if none), read in one script."""
        return str(self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css
        ))

    def heading(self) -> str:
        return self.text("main h1")

    def wait_heading(self, expected: str, seconds: float = WAIT_SECONDS) -> None:
        self.until(f"heading {expected!r}", lambda: self.heading() == expected, seconds)

    def wait_text(self, css: str, expected: str, seconds: float = WAIT_SECONDS) -> str:
        return self.until(f"{expected!r} in {css}", lambda: expected in self.text(css) and self.text(css), seconds)

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def click(self, css: str) -> None:
        """Click the element, found afresh if the page redrew it in between (live pages do)."""

        def attempt() -> bool:
            element = self._visible(css)
            if element is None:
                return False
            element.click()
            return True

        self.until(f"a click on {css}", attempt)

    def choose(self, css: str, value: str) -> None:
        """Pick `value` in the <select> at `css` (found afresh, like `click`)."""

        def attempt() -> bool:
            element = self._visible(css)
            if element is None:
                return False
            Select(element).select_by_value(value)
            return True

        self.until(f"{value!r} chosen in {css}", attempt)

    def click_link(self, text: str) -> None:
        def attempt() -> bool:
            links = [e for e in self.driver.find_elements(By.LINK_TEXT, text) if e.is_displayed()]
            if not links:
                return False
            links[0].click()
            return True

        self.until(f"a click on the link {text!r}", attempt)

    def token(self) -> str | None:
        return self.driver.execute_script("return localStorage.getItem('amr.token')")

    def alert_present(self) -> bool:
        try:
            self.driver.switch_to.alert
        except NoAlertPresentException:
            return False
        return True

    # --- what a user sees ------------------------------------------------------

    def page_width(self) -> int:
        return int(self.driver.execute_script("return document.documentElement.scrollWidth"))

    def too_wide(self, width: int) -> list[str]:
        """Elements that stick out past `width` px (outside a horizontally scrolling box)."""
        return list(self.driver.execute_script(
            """const w = arguments[0]; const out = [];
            for (const el of document.querySelectorAll('body *')) {
              if (el.closest('.scroll')) continue;
              const r = el.getBoundingClientRect();
              if (r.right > w + 1) out.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + Math.round(r.right));
            }
            return out.slice(0, 10);""",
            width,
        ))

    def screenshot(self, name: str, size: tuple[int, int] = DESKTOP, full: bool = True) -> Path:
        """A PNG of the whole page (or, `full=False`, of the window) at the given window
        size, in build/screenshots/NAME.png."""
        self.driver.set_window_size(*size)
        self.driver.execute_script("window.scrollTo(0, 0)")
        if full:
            height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
            self.driver.set_window_size(size[0], max(size[1], min(height + 140, 4000)))
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*DESKTOP)
        self.screenshots.append(path.name)
        return path

    def console(self) -> list[dict[str, Any]]:
        return list(self.driver.get_log("browser"))

    def assert_no_console_errors(self) -> None:
        unexpected = []
        for entry in self.console():
            if entry["level"] not in ("SEVERE", "ERROR"):
                continue
            message = str(entry.get("message", ""))
            provoked = entry.get("source") == "network" and any(
                f"status of {code}" in message for code in self.expected_statuses
            )
            if not provoked:
                unexpected.append(entry)
        self.expected_statuses.clear()
        assert not unexpected, "browser console errors:\n" + json.dumps(unexpected, indent=1)

    def wait_download(self, suffix: str, seconds: float = WAIT_SECONDS) -> Path:
        def done() -> Path | None:
            found = [p for p in self.downloads.glob(f"*{suffix}") if p.stat().st_size > 0]
            return found[0] if found else None

        return self.until(f"a downloaded *{suffix}", done, seconds)

