"""Cases (案件) and their debtors: intake, reading, exports, the ledger of balances.

Owns ``Debtor``, ``DebtorContact``, ``Case``, ``CaseHolder``, ``CaseEvent``, ``ImportBatch``,
``ImportMapping`` and the ledger's ``Posting`` (``cases.models``; every row belongs to the asset
owner, ``org_id``).

Public: ``cases.imports`` (the import engine the console, the CLI and the ``cases.import`` job
share: read, map, validate, write, naming the row, field and reason of every refusal),
``cases.cases`` (filters, sorts, keyset pages, masking), ``cases.exports`` (streamed .xlsx/.csv,
audited), ``cases.ledger`` (分账: how a payment splits over a loan's components, the postings),
``cases.holders.hold`` (the one statement that gives cases their holders), ``cases.scopes`` (wall
1's finer rule: which of its organisation's cases a person sees), ``cases.loaders`` (scoped
loaders).

Hooks: none emitted, none handled. Jobs: ``cases.import``; the export runs in ``exports.to-storage``
(``kernel.exports``).
"""
