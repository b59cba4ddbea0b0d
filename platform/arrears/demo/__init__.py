"""The demo tenants (``flask --app wsgi seed-demo``, ``scripts/run``): idempotent seeding.

Builds its rows through the domains' own use cases (imports, placements, allocation, work,
repayments, commission, write-off), so the demo shows what the platform does. Nothing imports
this package but the CLI (an import contract forbids it).
"""
