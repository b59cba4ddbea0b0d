"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``.

The source root is ``platform/`` (no ``__init__.py``: see docs/decisions/0001-platform-source-root.md).
When the project is installed (``pip install -e .``) the packages are importable already; when run
from a bare checkout we append the source root, never prepend, so the standard library's
``platform`` module keeps winning.
"""

import os
import sys

_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "platform")
if _src not in sys.path:
    sys.path.append(_src)

from arrears.app import create_app  # noqa: E402

app = create_app()
