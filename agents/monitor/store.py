"""The monitor's Redis layout: key names, lifetimes, the Lua scripts and the finalisation lease.

Every worker that runs the monitor shares these keys, so the layout is the contract between
them: per-(minute, group) hashes of sums, a HyperLogLog of users per minute, per-second
counters for the fast path, the pending set of minutes to finalise (a version per minute),
the detectors' states and the per-series anomaly cooldowns.
"""

from __future__ import annotations

import uuid

import redis

from core.redis import get_redis

PREFIX = "aiops:monitor"
MINUTE = 60
#: Minute hashes outlive finalisation: late events re-finalise, and they are the baseline.
KEEP_SECONDS = 3 * 3600
#: Per-second counters: the fast window and the seconds-level baselines (short_baseline).
SECOND_KEY_TTL = 420
FINALISE_LEASE_MS = 60_000

PENDING_KEY = f"{PREFIX}:pending"
LEASE_KEY = f"{PREFIX}:finalise-lease"
DETECTORS_KEY = f"{PREFIX}:detectors"
ENDPOINTS_KEY = f"{PREFIX}:endpoints"
METRICS_KEY = f"{PREFIX}:metrics"

# ARGV: number of keys, a TTL per key, then (key number, 'i'|'f', field, amount) per field.
INCREMENT_SCRIPT = """
local nkeys = tonumber(ARGV[1])
local i = nkeys + 2
while i <= #ARGV do
    local key = KEYS[tonumber(ARGV[i])]
    if ARGV[i + 1] == 'f' then
        redis.call('HINCRBYFLOAT', key, ARGV[i + 2], ARGV[i + 3])
    else
        redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
    end
    i = i + 4
end
for k = 1, nkeys do
    redis.call('EXPIRE', KEYS[k], ARGV[k + 1])
end
return nkeys
"""
_CAS_DELETE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
_EXTEND_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def minute_key(minute: int, group: str) -> str:
    return f"{PREFIX}:m:{minute}:{group}"


def groups_key(minute: int) -> str:
    return f"{PREFIX}:m:{minute}:groups"


def users_key(minute: int) -> str:
    return f"{PREFIX}:m:{minute}:users"


def second_key(second: int) -> str:
    return f"{PREFIX}:s:{second}"


def cooldown_key(series: str) -> str:
    return f"{PREFIX}:cooldown:{series}"


class RedisBacked:
    """Uses an injected client, else the process's shared one (looked up on each use)."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self._client = client

    @property
    def client(self) -> redis.Redis:
        return self._client or get_redis()


def pending_minutes(client: redis.Redis) -> list[int]:
    """Minutes with rollups not yet finalised (or re-dirtied by a late event), oldest first."""
    return sorted(int(m) for m in client.hkeys(PENDING_KEY))


def clear_pending(client: redis.Redis, minute: int, version: bytes) -> None:
    """Drop a finalised minute from the pending set, unless an event arrived for it meanwhile."""
    client.eval(_CAS_DELETE, 1, PENDING_KEY, str(minute), version)


def read_minute(client: redis.Redis, minute: int) -> tuple[dict[str, dict[str, float]], int]:
    """A minute's per-group hashes (group -> field -> amount) and its count of active users."""
    groups = sorted(g.decode() for g in client.smembers(groups_key(minute)))
    pipe = client.pipeline(transaction=False)
    for group in groups:
        pipe.hgetall(minute_key(minute, group))
    pipe.pfcount(users_key(minute))
    *hashes, active = pipe.execute()
    data = {
        group: {k.decode(): float(v) for k, v in raw.items()}
        for group, raw in zip(groups, hashes, strict=True)
    }
    return data, int(active)


class FinaliseLease:
    """One finaliser at a time across workers (``SET NX PX``), so minutes are judged in order.

    Only the holder extends or releases it (compare on a random token), so a worker whose
    lease expired cannot end the next holder's.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(self.client.set(LEASE_KEY, self.token, nx=True, px=FINALISE_LEASE_MS))

    def extend(self) -> bool:
        """Whether the lease is still ours (and now good for another FINALISE_LEASE_MS)."""
        return bool(self.client.eval(_EXTEND_IF_OWNER, 1, LEASE_KEY, self.token, FINALISE_LEASE_MS))

    def release(self) -> None:
        self.client.eval(_RELEASE_IF_OWNER, 1, LEASE_KEY, self.token)
