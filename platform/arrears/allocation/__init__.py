"""Allocation (分案): the rules of a strategy and the engine that applies them to cases."""
