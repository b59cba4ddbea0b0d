"""Repayments (还款): recorded exactly once, applied to the loans, reversed, audited, reconciled.

Owns ``Repayment`` and the Idempotency-Key answers (``IdempotencyKey``) (``payments.models``).

Public: ``payments.repayments`` (record from the core system, statements, collectors' reports and
manual entries; apply exactly once; reverse), ``payments.batches`` (the API's batch with its
Idempotency-Key), ``payments.checks`` (an event checked before it is recorded),
``payments.collector_reports`` (还款审核), ``payments.reconcile`` and ``payments.reconcile_runs`` (对账
against the lender's statements), ``payments.records`` and ``payments.queries`` (what the consoles
and the API read), ``payments.ledger_check`` (the nightly invariant), ``payments.pages`` (the
repayment templates three consoles nest), ``payments.loaders``.

Hooks: emits ``RepaymentsApplied`` and ``RepaymentReversed`` (``payments.events``; handled by
``writeoffs.recoveries`` and ``reports.desk``); handles ``work.events.RepaymentReported``
(``collector_reports.record_report``). Jobs: ``payments.apply``, ``payments.drain`` (periodic
``drain-repayments``, every minute), ``payments.ledger-check`` (periodic ``ledger-check``, 02:40 per
tenant), ``payments.scan-statements`` (periodic ``reconcile-statements``, 07:10 per tenant),
``payments.purge-idempotency-keys`` (periodic, 03:17 daily).
"""
