"""Collector workbench (催收员工作台): home shell now; cases, notes, promises, applications next."""

from agent_workbench.views import bp

__all__ = ["bp"]
