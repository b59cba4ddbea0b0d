"""No personal data in the logs: every log record is redacted when it is made.

Search terms travel in query strings (``?q=110105194912310021``), a lender's cell can end up in an
error message, a database error repeats its statement's parameters. Rather than trust every
``log.info`` and every library's access log, the record factory (``logging.setLogRecordFactory``)
redacts each record as it is created, whoever logs it (the application, Werkzeug's and gunicorn's
access logs, rq, SQLAlchemy): the message is formatted, then

* query strings of request lines lose their values (``/asset/cases?q=…``): a search term is
  personal data before anything can say which kind;
* mainland ID numbers, mobile numbers, card and account numbers (13 to 19 digits) and e-mail
  addresses are replaced by what they were (``[id]``, ``[mobile]``, ``[number]``, ``[email]``);
* a traceback is formatted and redacted the same way.

The database engine also hides statement parameters from its errors (``hide_parameters``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_QUERY = re.compile(r"(\?|&)([^=&\s\"']+)=[^&\s\"']*")
_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"), "[id]"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "[mobile]"),
    (re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)"), "[number]"),
]
_MARK = "_arrears_redacted"


def redact(text: str) -> str:
    """``text`` without query values, ID numbers, mobiles, long numbers and e-mail addresses."""
    text = _QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}=…", text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def install() -> None:
    """Wrap the current record factory (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is, redacted
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
