"""Write-off (核销): the owner's rules, proposals under two-stage approval, the ledger (核销台账),
recoveries after write-off and reversal.

Owns write-off rules, proposals with their lines and the ledger's lines (``writeoffs.models``).

Public: ``writeoffs.writeoffs`` (rules, the candidate query, the approval handlers, registration,
reversal), ``writeoffs.proposals`` (a batch of candidates proposed), ``writeoffs.ledger`` (the
ledger read, totalled and exported), ``writeoffs.recoveries`` (money recovered after write-off).

Hooks: handles ``RepaymentsApplied`` and ``RepaymentReversed`` (``recoveries.on_*``). Jobs:
``writeoffs.register`` (the registration of an approved batch, idempotent); the ledger export
runs in ``exports.to-storage``.
"""
