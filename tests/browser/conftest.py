"""Fixtures of the browser suite: one Chromium for the suite, a fresh context (a browser profile,
a device) per use, the servers of each test, and a database with alice in it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from authsvc.passwords.hashing import Argon2Hasher
from tests.helpers.browser import CHROMIUM_FLAGS, Servers, chromium_executable
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD

MakeContext = Callable[..., BrowserContext]


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    executable = chromium_executable()
    assert executable
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=chromium_executable(), args=CHROMIUM_FLAGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[MakeContext]:
    """`new_context(**options)`: a fresh profile, closed after the test."""
    opened: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def browser_database(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test (the browser suite runs on one database)."""
    path = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def alice(browser_database: str, fast_hasher: Argon2Hasher) -> str:
    """alice's id; her password is PASSWORD."""
    return add_user(browser_database, "alice", PASSWORD, hasher=fast_hasher)
