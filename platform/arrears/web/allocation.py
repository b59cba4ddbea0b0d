"""Allocation pages shared by the asset console and the agency console: strategies (with versions and
the change log), runs (preview, review, apply) and their result logs."""

from __future__ import annotations

from flask import Blueprint


def register(bp: Blueprint) -> None:
    """Add the allocation pages and their navigation entries to a console blueprint."""
