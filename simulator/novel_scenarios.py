"""Novel fault scenarios: faults the catalogue, the seeded rules and the agents were never
shaped on. Kept apart from ``scenarios.SCENARIOS`` (the demo cycle and the known scorecard
never play them); ``manage.py scorecard --novel`` does.

Written, with their ground truth, before any measurement of the agents against them, so the
set is not tuned to the agents. No catalogue problem, rule, keyword or cause class may be
added for them: a mature tool meets faults like these with (1) detection, (2) an honest
"unknown" or the right *cause class* at a calibrated confidence, never a confidently named
known problem, (3) no remediation whose rule was written for another cause, and (4) a page
to a person with a plain-language incident.

The catalogue already knows a full disk (``disk_full``) and our own certificate expiring
(``tls_cert_expiry``), so those are not novel: this set exhausts file descriptors instead,
and the expired certificate is an *upstream's* (the Pocket API), which no rule of ours can
renew.

Ground truth per scenario: ``root_cause`` is a signal no catalogue problem carries;
``remediation`` is empty (no seeded rule fits, so any run started is a wrong one);
:data:`ACCEPTABLE_CLASSES` lists the generic cause classes a good diagnosis may name
(``unknown`` is always acceptable).
"""

from __future__ import annotations

from simulator.scenarios import Scenario
from simulator.world import World

#: The release the bad deploy ships, and the one it replaces (the simulator's version).
BAD_RELEASE = "2026.12.1"
PREVIOUS_RELEASE = "2026.11.3"


def _fd_exhausted(world: World) -> None:
    world.fd_exhausted = True


def _raise_fd_limit(world: World) -> None:
    world.fd_exhausted = False


def _dns_failing(world: World) -> None:
    world.favicon_dns_failing = True


def _fix_dns(world: World) -> None:
    world.favicon_dns_failing = False


def _bad_deploy(world: World) -> None:
    # The release's serializer reads a field older rows lack; it goes live with the deploy.
    world.broken_endpoint = "detail"
    world.announce("bookmarks", "deploy.finished", {
        "version": BAD_RELEASE, "service": "bookmarks", "previous_version": PREVIOUS_RELEASE,
    })  # fmt: skip


def _roll_back(world: World) -> None:
    world.broken_endpoint = ""


def _cert_expired(world: World) -> None:
    world.pocket_cert_expired = True


def _renew_cert(world: World) -> None:
    world.pocket_cert_expired = False


def _cpu_saturation(world: World) -> None:
    # A noisy neighbour (or a runaway cron job) takes the web host's CPU: every request
    # waits its turn, nothing fails.
    world.cpu_saturation = 4.0


def _free_cpu(world: World) -> None:
    world.cpu_saturation = 1.0


def _clock_skew(world: World) -> None:
    # The web host's clock runs 25 minutes ahead (NTP stopped): fresh session tokens look
    # expired to it.
    world.clock_skew_s = 1500.0


def _fix_clock(world: World) -> None:
    world.clock_skew_s = 0.0


NOVEL: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "novel_fd_exhausted", "Import worker runs out of file descriptors",
            "fd_exhausted", "import-worker", "",
            _fd_exhausted, _raise_fd_limit,
            "A parser library leaks file handles: the import worker hits its open-files limit "
            "and every import fails opening its temporary file with OSError EMFILE.",
        ),
        Scenario(
            "novel_dns_failure", "Favicon fetcher cannot resolve host names",
            "dns_resolution_failure", "favicon-fetcher", "",
            _dns_failing, _fix_dns,
            "The favicon fetcher's resolver is down: every fetch fails with socket.gaierror "
            "after a 5 s resolver timeout.",
        ),
        Scenario(
            "novel_bad_deploy", "A deploy of bookmarks breaks one endpoint",
            "serializer_regression", "bookmarks", "",
            _bad_deploy, _roll_back,
            f"Release {BAD_RELEASE} of bookmarks raises KeyError in the bookmark serializer "
            "on GET /api/bookmarks/<pk>/ (500); a deploy.finished event precedes it.",
        ),
        Scenario(
            "novel_cert_expired", "Expired TLS certificate on the Pocket API",
            "upstream_cert_expired", "import-worker", "",
            _cert_expired, _renew_cert,
            "The Pocket API's certificate has expired: Pocket imports fail with "
            "SSLCertVerificationError; other sources import fine.",
        ),
        Scenario(
            "novel_cpu_saturation", "Web host CPU saturated",
            "cpu_saturation", "bookmarks", "",
            _cpu_saturation, _free_cpu,
            "Every request of the web tier takes four times as long; nothing fails and no "
            "error is logged.",
        ),
        Scenario(
            "novel_clock_skew", "Clock skew rejects session tokens",
            "clock_skew", "bookmarks", "",
            _clock_skew, _fix_clock,
            "The web host's clock runs 25 minutes ahead; half the signed-in requests answer "
            "401 with SignatureExpired.",
        ),
    )
}  # fmt: skip

#: The generic cause classes (``agents.diagnostic.causes``) a good diagnosis may name.
ACCEPTABLE_CLASSES: dict[str, tuple[str, ...]] = {
    "novel_fd_exhausted": ("unknown", "resource-exhaustion"),
    "novel_dns_failure": ("unknown", "upstream-dependency"),
    "novel_bad_deploy": ("unknown", "deploy-regression"),
    "novel_cert_expired": ("unknown", "upstream-dependency"),
    "novel_cpu_saturation": ("unknown", "resource-exhaustion"),
    "novel_clock_skew": ("unknown",),
}

#: The order ``scorecard --novel`` plays them in.
NOVEL_ORDER = tuple(NOVEL)
