"""What every domain stands on: transactions, the audit log, hooks, jobs, exports, money and the
clock.

* ``transaction`` (``transaction``, ``on_commit``) and ``db`` (bulk writes, ``is_postgres``);
* ``audit`` (the append-only operation log: ``record``, ``query``);
* ``hooks`` (``Event``, ``emit``, ``install``: effects that cross a domain upward; the table is
  ``arrears.hooks.HOOKS``);
* ``jobs`` (``registry.job`` names every background job and declares its schedule, ``queue``
  enqueues on rq or runs inline, ``runner`` runs a recorded job inside its tenant, ``schedule``
  drives the periodic entries, ``housekeeping``);
* ``exports`` (one export-to-storage job, ``@exporter(kind)``), ``documents`` (PDF font and
  markup), ``money`` (Decimal amounts, never float), ``clock`` (the zone, business dates).

Jobs: ``kernel.sweep-jobs`` (periodic ``sweep-jobs``, every 5 minutes),
``kernel.purge-stale-files`` (periodic ``purge-stale-files``, 03:37 daily),
``exports.to-storage``.
"""
