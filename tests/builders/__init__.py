"""Test data builders, by domain: the tests build what they need here and never import one another
(tests/unit/test_layout.py keeps it so). tests/conftest.py registers this package for pytest's
assertion rewriting, so a builder's failed assert reports like a test's.

* ``tenants``: :class:`~tests.builders.tenants.World` and ``build_world`` (the ``world`` fixture),
  ``make_tenant``, ``partner``, ``new_user``, ``get_user``, ``other_collector``, ``PASSWORD``.
* ``cases``: ``make_cases`` (a few of bank's cases), ``case_ids``, ``IMPORTS`` (the shared import files).
* ``placements``: ``placed_with_east`` (bank's 300 cases placed with east), ``bank_with_cases``,
  ``east_people``, dispatches (``dispatch`` by the service, ``dispatch_run``/``dispatch_to`` by a run),
  ``two_cases_with_collector``, and the matrix's ``placement_objects``/``dispatch_objects``.
* ``pages``: ``post_form`` (a console form with its CSRF token), ``preview_placement``, ``approve``,
  ``placed_run`` (a placement run through the asset console).
* ``payments``: ``post_repayments`` (the repayments API), ``apply_all``, ``pay`` (core payments by loan).
* ``work``: ``work_cases`` (four cases placed and dispatched, :class:`~tests.builders.work.Cases`),
  ``reduce``, ``detached``, ``components``, ``grant``.
* ``commission``: ``place`` (cases placed in given buckets), ``pay`` (payments on them at given
  moments), ``contract_for``, ``bank_checker``, ``at``, ``RATES``, ``BUCKET_DUE``, ``PLACED_ON``.
* ``writeoffs``: ``setup_bank`` (bank's cases and approvers on a fixed ``TODAY``).
* ``storage``: ``Moto`` (a moto S3 server; the fixtures are in tests/integration/conftest.py),
  ``s3_storage``, ``free_port``.
* ``servers``: ``serve`` (a live server of the app, for the browser journeys).
"""
