"""How the bookmark manager misbehaves under the *novel* faults (``novel_scenarios.py``):
faults no catalogue problem, seeded rule or keyword was written for.

They exist to measure generalisation: each breaks the world in a way an operator has seen
elsewhere (file descriptors run out, DNS fails, a bad deploy, an upstream's expired
certificate, a saturated CPU, a skewed clock) but that AI-Ops Core was never shaped on.
The world composes this model like the others and calls it under its lock; every knob is
off in a healthy deployment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.deployment import ImportJob, Outcome, lognormal

if TYPE_CHECKING:  # the world composes these models; they read its state
    from simulator.world import World

#: How long a signed session token lives; a skewed clock makes fresh ones look older.
TOKEN_MAX_AGE_S = 3600
#: The share of signed-in requests whose token lands past its age under the skew.
SKEWED_SHARE = 0.5


class NovelFaults:
    def __init__(self, world: World) -> None:
        self.world = world

    # --- The web tier --------------------------------------------------------------------

    def web_failure(self, endpoint: str, *, authenticated: bool, now: float) -> Outcome | None:
        """A failed answer of the web tier under a novel fault, or None."""
        w = self.world
        if w.broken_endpoint == endpoint and not w.pending_changes:
            # The new release's serializer reads a field older rows do not have.
            return w.signal_log.error(
                "bookmarks", "serializer_regression", now, status=500,
                latency_ms=lognormal(w.random, 20),
                text=f"Internal Server Error: /api/bookmarks/{w.random.randint(1, 50_000)}/ "
                "KeyError: 'folder_path' in BookmarkSerializer.to_representation",
            )  # fmt: skip
        if w.clock_skew_s and authenticated and w.random.random() < SKEWED_SHARE:
            age = TOKEN_MAX_AGE_S + w.clock_skew_s * w.random.uniform(0.2, 1.0)
            return w.signal_log.error(
                "bookmarks", "clock_skew", now, status=401, latency_ms=lognormal(w.random, 8),
                text=f"django.core.signing.SignatureExpired: Signature age {age:.1f} > "
                f"{TOKEN_MAX_AGE_S} seconds",
            )  # fmt: skip
        return None

    def slowdown(self) -> float:
        """Every request's latency is multiplied by this (a saturated CPU queues them all)."""
        return self.world.cpu_saturation

    # --- The import worker ---------------------------------------------------------------

    def import_failure(self, job: ImportJob) -> tuple[str, str, str] | None:
        """(signal, error type, text) of an import that fails under a novel fault, or None."""
        w = self.world
        if w.fd_exhausted:
            return (
                "fd_exhausted", "OSError",
                f"OSError: [Errno 24] Too many open files: "
                f"'/var/lib/import-worker/tmp/{job.import_id}.part'",
            )  # fmt: skip
        if w.pocket_cert_expired and job.source == "pocket":
            return (
                "upstream_cert_expired", "SSLCertVerificationError",
                "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                "verify failed: certificate has expired (_ssl.c:1006) fetching "
                f"https://getpocket.com/v3/get for import {job.import_id}",
            )  # fmt: skip
        return None

    def wants_imports(self) -> str | None:
        """The source of extra imports the fault concerns ("any" for every source), or None."""
        w = self.world
        if w.fd_exhausted:
            return "any"
        if w.pocket_cert_expired:
            return "pocket"
        return None

    # --- The favicon fetcher -------------------------------------------------------------

    def favicon_failure(self, host: str, now: float) -> Outcome | None:
        w = self.world
        if not w.favicon_dns_failing:
            return None
        return w.signal_log.error(
            "favicon-fetcher", "dns_resolution_failure", now, status=0,
            latency_ms=lognormal(w.random, 5000, 0.1),
            text=f"socket.gaierror: [Errno -3] Temporary failure in name resolution "
            f"(fetching https://{host}/favicon.ico)",
        )  # fmt: skip

    # --- Ground truth --------------------------------------------------------------------

    def present(self) -> dict[str, bool]:
        w = self.world
        return {
            "fd_exhausted": w.fd_exhausted,
            "dns_resolution_failure": w.favicon_dns_failing and w.flags["favicon_fetch"],
            "serializer_regression": bool(w.broken_endpoint),
            "upstream_cert_expired": w.pocket_cert_expired,
            "cpu_saturation": w.cpu_saturation > 1.0,
            "clock_skew": bool(w.clock_skew_s),
        }
