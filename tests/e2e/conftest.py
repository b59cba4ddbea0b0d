"""Browser journeys: a live server of the app under test and headless Chromium (Playwright drives the
distribution's /usr/bin/chromium; it downloads no browser of its own)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

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


def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free local port in a thread; yields its base URL."""
    app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


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
