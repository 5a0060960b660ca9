"""Runs the services of the tests as production does: each as its own unprivileged role, migrations as a superuser."""

from __future__ import annotations

from devtools.roles import as_user, service_roles

ROLE_OF = service_roles()
_COMPONENTS = ("EVENT_STORE", "READ_MODEL", "KEY_STORE")


def as_role(dsn: str, role: str) -> str:
    """Returns the test cluster's DSN with `role` as the user (the test cluster trusts loopback logins)."""
    return as_user(dsn, role)


def least_privilege(module: str, env: dict[str, str]) -> dict[str, str]:
    """Returns `env` with the service's superuser DSNs turned into its role's, the superuser's kept for migrations.

    A DSN naming another user, and anything that is not a service, is left alone.
    """
    role = ROLE_OF.get(module)
    if role is None:
        return env
    changed = dict(env)
    for component in _COMPONENTS:
        dsn = env.get(f"{component}_DSN")
        if dsn and dsn.startswith("postgresql://postgres@"):
            changed.setdefault(f"{component}_MIGRATION_DSN", dsn)
            changed[f"{component}_DSN"] = as_role(dsn, role)
    return changed
