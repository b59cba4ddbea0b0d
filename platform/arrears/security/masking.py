"""Masked views of personal data for roles without ``pii.unmask`` (张*明, 110***********1234,
138****5678)."""

from __future__ import annotations


def name(value: str | None) -> str:
    if not value:
        return ""
    if len(value) == 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    if value.isascii():  # Latin names: keep initials of each part
        return " ".join(p[0] + "*" * (len(p) - 1) for p in value.split())
    return value[0] + "*" * (len(value) - 2) + value[-1]


def id_number(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def email(value: str | None) -> str:
    if not value or "@" not in value:
        return "" if not value else "***"
    local, domain = value.split("@", 1)
    return (local[0] if local else "") + "***@" + domain


def address(value: str | None) -> str:
    """Keep the first six characters (province and city), hide the street."""
    if not value:
        return ""
    return value[:6] + "****" if len(value) > 6 else value[:2] + "****"


def card(value: str | None) -> str:
    if not value:
        return ""
    return "*" * max(0, len(value) - 4) + value[-4:]


# Import fields that carry personal data, and how each is masked.
PII_FIELDS = {
    "name": name,
    "contact_name": name,
    "id_number": id_number,
    "mobile": phone,
    "contact_phone": phone,
    "email": email,
    "address": address,
    "work_address": address,
    "card_no": card,
    "account_no": card,
}


def cell(field_key: str | None, value: object) -> object:
    """A spreadsheet cell as a viewer without ``pii.unmask`` may see it."""
    if value is None or field_key not in PII_FIELDS:
        return value
    return PII_FIELDS[field_key](str(value))
