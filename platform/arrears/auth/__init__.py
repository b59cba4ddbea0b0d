"""Who is acting (账号与权限): users, roles made of named permissions, sessions and tokens.

Owns ``User``, ``Role`` (with its permissions), ``UserSession``, ``ApiToken`` and ``AuthThrottle``
(``auth.models``); the catalogue of permissions and the built-in role templates
(``auth.permissions``); Argon2id password hashing (``auth.passwords``); failed-login throttling
(``auth.throttle``).

Public: ``principal`` (``can``, ``require``, ``permission_required``, ``acting_user``,
``started_by``: the permission checks every view, API and service makes), ``sessions`` (console
login and bearer tokens, ``end_sessions``, ``change_password``).

Hooks: none emitted, none handled. Jobs: ``auth.purge-sessions`` (periodic
``purge-expired-sessions``, 03:17 daily).
"""
