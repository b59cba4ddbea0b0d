"""Every user-facing string is translatable, translated into zh_CN and compiled."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from io import BytesIO

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = pathlib.Path(__file__).resolve().parents[2]
T = ROOT / "platform" / "arrears" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _po(locale: str):  # type: ignore[no-untyped-def]
    with open(T / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def test_catalog_template_is_up_to_date_with_the_sources(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "pybabel"),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "lazy_pgettext:1c,2",
            "-o",
            str(out),
            "--no-location",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(out, "rb") as f:
        current = {m.id for m in read_po(f) if m.id}
    translated = {m.id for m in _po("zh_Hans_CN") if m.id}
    missing = sorted(str(i) for i in current - translated)
    assert not missing, f"strings not in the zh_CN catalog (run scripts/i18n and translate): {missing}"


def test_every_zh_cn_message_is_translated_with_the_same_placeholders() -> None:
    for message in _po("zh_Hans_CN"):
        if not message.id:
            continue
        assert message.string, f"untranslated: {message.id!r}"
        assert "fuzzy" not in message.flags, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        # zh_CN has one plural form: msgstr[0] serves every count, so it takes the plural's placeholders
        # (Babel's own checker does the same): "snoozed once" / "snoozed %(num)d times" -> "已延后 %(num)d 次"
        expected = ids[-1]
        assert sorted(PLACEHOLDER.findall(expected)) == sorted(PLACEHOLDER.findall(strings[0])), message.id
        # Jinja's gettext formats every template string with %, so a lone % sign that only the
        # translation has ("分配比例（%，...") raises ValueError and turns the page into a 500
        assert _lone_percents(strings[0]) == _lone_percents(expected), message.id


def _lone_percents(text: str) -> int:
    return PLACEHOLDER.sub("", text).replace("%%", "").count("%")


def _key(value: object) -> object:
    """Plural entries come back from read_mo as lists: compare them as tuples."""
    return tuple(value) if isinstance(value, list) else value


def test_compiled_catalogs_match_their_sources() -> None:
    for locale in ("zh_Hans_CN", "en"):
        catalog = _po(locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        fresh = {_key(m.id): _key(m.string) for m in read_mo(buffer) if m.id}
        with open(T / locale / "LC_MESSAGES" / "messages.mo", "rb") as f:
            shipped = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
        assert fresh == shipped, f"{locale}: messages.mo is stale, run scripts/i18n"


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TAGS = re.compile(r"<[^>]+>", re.S)
_ALLOWED = {"中文", "English", "Arrears"}


def test_templates_hold_no_raw_text() -> None:
    """Text between tags must come from _(...); a bare English word in a template is a bug."""
    offenders = []
    for path in (ROOT / "platform").rglob("templates/**/*.html"):
        text = _TAGS.sub(" ", _JINJA.sub(" ", path.read_text()))
        for word in re.findall(r"[A-Za-z][A-Za-z']+", text):
            if word not in _ALLOWED:
                offenders.append((path.relative_to(ROOT).as_posix(), word))
    assert not offenders, offenders


def test_flash_messages_and_errors_are_wrapped() -> None:
    """Every flash() and domain error in the code passes a translated string."""
    pattern = re.compile(
        r"(flash|NotFound|ValidationFailed|Conflict|PermissionDenied|AuthenticationFailed|Throttled)"
        r"\(\s*f?[\"']"
    )
    offenders = []
    for path in (ROOT / "platform").rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert not offenders, offenders
