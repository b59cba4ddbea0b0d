"""Collector workbench (催收员工作台): the home figures and honour roll, my cases, the case page with
its notes, promises, repayments, applications, attachments, letters and calls, my reminders,
applications and repayments."""

from agent_workbench import applications as _applications  # noqa: F401  (routes on bp)
from agent_workbench import repayments as _repayments  # noqa: F401  (routes on bp)
from agent_workbench import work_files as _work_files  # noqa: F401  (routes on bp)
from agent_workbench.views import bp

__all__ = ["bp"]
