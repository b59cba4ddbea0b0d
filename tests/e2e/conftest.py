"""Browser journeys: a live server of the app under test and headless Chromium (Playwright drives the
distribution's /usr/bin/chromium; it downloads no browser of its own)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.builders.servers import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    yield from serve(app)


@pytest.fixture
def browser() -> Iterator[object]:
    assert CHROMIUM, "Chromium is required for the browser journeys (scripts/test installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
