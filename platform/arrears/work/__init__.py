"""Collection work on a case (催收作业): what collectors do every day.

Owns notes with result codes, promises to pay, reminders, applications (repayment and reduction),
calls, letters and attachments (``work.models``).

Public: ``work.notes`` (催记, promises 承诺还款, reminders), ``work.applications`` (申请, decided level
by level through ``orgs.approvals``), ``work.calls`` (click-to-call through the call centre),
``work.letters`` (信函 templates rendered to PDF), ``work.attachments``, ``work.contacts`` (a
case's contact history), ``work.queries`` (what the consoles read), ``work.pages`` (the pages the
asset and agency consoles nest), ``work.loaders``.

Hooks: emits ``RepaymentReported`` (an approved repayment application; handled by
``payments.collector_reports``) and ``PromisesSettled`` (handled by ``reports.desk``), in
``work.events``. Jobs: ``work.bulk-letters``, ``work.evaluate-promises`` (periodic
``evaluate-promises``, 01:20 per tenant).
"""
