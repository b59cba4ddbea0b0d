"""Every reason and field label the import engine reports, marked for translation.

The engine reports stable English phrases (the CLI's JSON and the tests rely on them); the console
shows them through gettext, which finds them in the catalog because they are listed here.
"""

from flask_babel import lazy_gettext as _l

REASONS = [
    _l("ID number birth date"),
    _l("ID number checksum"),
    _l("ID number format"),
    _l("ID number missing"),
    _l("ID number stored as a number (precision lost)"),
    _l("amount format"),
    _l("amount too large"),
    _l("date format"),
    _l("debtor name missing"),
    _l("due date missing"),
    _l("duplicate loan number in file"),
    _l("e-mail format"),
    _l("impossible date"),
    _l("loan number missing"),
    _l("mobile number format"),
    _l("mobile number too long"),
    _l("mobile number too short"),
    _l("negative amount"),
    _l("negative number"),
    _l("number format"),
    _l("phone number format"),
    _l("phone number too long"),
    _l("phone number too short"),
    _l("principal missing"),
]

FIELD_LABELS = [
    _l("Loan number"),
    _l("Debtor name"),
    _l("ID number"),
    _l("Mobile"),
    _l("E-mail"),
    _l("Loan date"),
    _l("Loan amount"),
    _l("Term (periods)"),
    _l("Due date"),
    _l("Days past due (lender)"),
    _l("Principal outstanding"),
    _l("Interest"),
    _l("Penalty"),
    _l("Fees"),
    _l("Total outstanding"),
    _l("Product"),
    _l("Province"),
    _l("City"),
    _l("Region"),
    _l("Home address"),
    _l("Work address"),
    _l("Employer"),
    _l("Contact name"),
    _l("Contact relation"),
    _l("Contact phone"),
    _l("Account number"),
    _l("Card number"),
    _l("Card type"),
    _l("Statement date"),
    _l("Minimum payment"),
    _l("Tags"),
]
