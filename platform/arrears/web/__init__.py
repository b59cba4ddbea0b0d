"""Shared web pieces: sign-in and profile pages (``web`` blueprint), the console gate, errors."""

from arrears.web.views import web_bp

__all__ = ["web_bp"]
