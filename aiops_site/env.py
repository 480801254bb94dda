"""Reading settings from the environment: each helper names the variable it refuses.

Settings come from the environment in one file (``settings.py``); a bad value stops the
process at start-up with ``ImproperlyConfigured`` rather than misbehaving later.
"""

from __future__ import annotations

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default).strip()
    if value.lower() in {c.lower() for c in choices}:
        return value
    raise ImproperlyConfigured(f"{name}={value!r} is not one of {sorted(choices)}")


def env_networks(name: str, default: str) -> list[str]:
    """A comma-separated list of CIDRs (``10.0.0.0/8``); anything else is refused."""
    networks = env_list(name, default)
    for cidr in networks:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {cidr!r} is not a network (e.g. 10.0.0.0/8)"
            ) from None
    return networks
