"""Commission (佣金): what an agency earns on the repayments attributed to it.

Owns contracts with their versions and rates, one record per attributed repayment, and the monthly
statements with their lines and adjustments (``commission.models``).

Public: ``commission.accrual`` (records and clawbacks, priced by the contract version in force),
``commission.commission`` (contracts, the monthly settlement), ``commission.statements``
(adjustments, approval, payment), ``commission.docs`` (a statement as .xlsx and .pdf),
``commission.pages`` (the pages the asset and agency consoles nest), ``commission.loaders``.

Hooks: none emitted, none handled (accrual reads the repayments; it runs by schedule). Jobs:
``commission.accrue`` (periodic ``accrue-commission``, every 15 minutes),
``commission.settle-previous-month`` (periodic ``settle-commission``, 03:30 on the 1st).
"""
