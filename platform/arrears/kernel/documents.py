"""PDF documents: the CJK font every document prints in, and plain text as reportlab markup."""

from __future__ import annotations

import re

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

CJK_FONT = "STSong-Light"  # one of reportlab's built-in CID fonts: no font file to ship
_registered = False


def font() -> str:
    """The name of the font documents print in, registered with reportlab on first use."""
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered = True
    return CJK_FONT


def markup(text: str) -> str:
    """Plain text as a reportlab paragraph: escaped, line breaks kept."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\n", "<br/>", escaped)
