"""Reports (报表) and figures: the collector's desk, the honour roll, the console home pages.

Owns no table of its own yet: it reads the other domains (the tenant walls scope every count).

Public: ``reports.desk`` (the workbench in figures: today's desk, the month, the honour roll 光荣榜),
``reports.home`` (the consoles' home figures), ``reports.api`` (the desk on ``/api/v1``).

Hooks: handles ``RepaymentsApplied``, ``RepaymentReversed`` and ``PromisesSettled``
(``desk.on_*``: the honour roll moves). Jobs: none.
"""
