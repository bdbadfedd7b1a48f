"""Fixtures of the browser tests: one local stack and one headless Chromium per module.

Debian's `chromium` and `chromium-driver` (installed by `make test`, see the Makefile's
DEBS_TEST) are driven through selenium; nothing is downloaded at run time. Screenshots go
to `build/screenshots/`.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser.browser import Browser, CHROMEDRIVER, CHROMIUM, SCREENSHOTS
from tests.e2e.localstack import Stack, free_port

needs_chromium = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromium-driver (make test installs them)",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("web-stack")
    running = Stack(state_dir=root / "state", api_port=free_port(), emulator_port=free_port(), log_dir=root)
    try:
        running.start()
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="module")
def browser(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    downloads = tmp_path_factory.mktemp("downloads")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver = Browser.start(stack.api, downloads)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test ends with no error in the browser's console (script errors,
    CSP violations, failed loads) other than the HTTP errors the test itself provoked."""
    yield
    if "browser" in request.fixturenames:
        browser: Browser = request.getfixturevalue("browser")
        browser.assert_no_console_errors()
