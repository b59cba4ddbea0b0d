"""Organisations (组织) and the people in them: tenants, users, roles, teams, partnerships, approvals.

Owns partnerships, teams and maker-checker approvals (``orgs.models``; ``Organisation`` itself is in
``tenancy``, which every wall reads).

Public: ``orgs.orgs`` (creating asset owners and agencies with their first admin), ``orgs.users``,
``orgs.roles`` (built-in and multi-level custom roles), ``orgs.teams``, ``orgs.partnerships`` (an
owner grants an agency rights), ``orgs.approvals`` (one maker-checker mechanism for every flow:
``register`` a kind with its handlers, ``submit``, ``decide``), ``orgs.queries`` (names, agencies,
stage paths for every domain's pages), ``orgs.pages`` (users, roles, log, jobs, settings and the
approvals inbox, nested in every console), ``orgs.loaders``.

Hooks: none emitted, none handled (approvals call the handlers each kind registers). Jobs:
``orgs.census`` (the harmless job of the jobs page).
"""
