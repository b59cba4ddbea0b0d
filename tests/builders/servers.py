"""A live server of the application under test, for the browser journeys."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server


def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free local port in a thread; yields its base URL, then shuts it down."""
    app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
