"""Placement and allocation (委外与分案): an owner places cases with agencies for a period, an
agency dispatches them to its collectors, both by strategies.

Owns placements, strategies with their versions, runs with their per-case results, and the
assignments of cases to people (``allocation.models``).

Public: ``allocation.engine`` (one engine for both levels), ``allocation.rules`` (a strategy's
rules as stored and as the engine reads them), ``allocation.strategies`` (分案策略, versioned),
``allocation.runs`` (preview 预分案, approval, apply, logs), ``allocation.placements`` (recall,
extension, the end), ``allocation.assignments`` (who works a case inside its holder),
``allocation.log`` (what the consoles read), ``allocation.pages`` (nested in the asset and agency
consoles), ``allocation.loaders``.

Hooks: none emitted, none handled. Jobs: ``allocation.apply-run``, ``allocation.end-placements``
(periodic ``end-placements``, hourly per tenant).
"""
