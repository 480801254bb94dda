"""The bookmark monitor: minute rollups, their finalisation, anomaly detection.

Plain Python over Redis and the ORM, so it is tested without Celery; the agent
(:mod:`agents.monitor.agent`) only feeds :class:`agents.monitor.rollups.Rollups` batches and
ticks. One module per job:

* :mod:`~agents.monitor.histogram` -- latency buckets and percentiles;
* :mod:`~agents.monitor.series` -- series names, endpoint labels, categories, severities,
  problem messages, the samples a minute needs, and a minute's hashes read as series values;
* :mod:`~agents.monitor.store` -- the Redis key layout, its Lua scripts, the lease;
* :mod:`~agents.monitor.writer` -- a batch of events folded into the per-minute hashes;
* :mod:`~agents.monitor.fast_path` -- per-second counters, bursts, latency jumps and creeps;
* :mod:`~agents.monitor.finaliser` -- closed minutes into ``MetricPoint`` rows under the lease;
* :mod:`~agents.monitor.judging` -- the detectors run over finalised points, expected ranges;
* :mod:`~agents.monitor.recording` -- findings stored, sighted and announced as anomalies;
* :mod:`~agents.monitor.history` -- finalised series read back (learning agent, charts);
* :mod:`~agents.monitor.detector` -- the pure streaming detector, :mod:`~agents.monitor.nab`
  its NAB runner;
* :mod:`~agents.monitor.cad` -- CAD OSE with its published constants, scored on NAB beside the
  streaming detector (``nab_predict --detector cad``); not used live (issue 15).

Why it is shaped this way:

* **Many workers, one count.** Every worker that runs the monitor is a member of its consumer
  group and sees a share of the events. Each batch is first summed in memory, then added to
  Redis with one pipeline of ``HINCRBY`` / ``HINCRBYFLOAT`` on per-(minute, group) hashes, so
  the totals are the same whichever worker saw which event. Latency percentiles come from
  fixed log-spaced histogram buckets (``BUCKET_GROWTH`` apart, so any percentile is known
  within ``PERCENTILE_ERROR``) because buckets add up across workers where sorted samples
  cannot; active users are a HyperLogLog per minute for the same reason.
* **Exactly once into PostgreSQL.** A tick finalises closed minutes (older than a minute plus
  ``GRACE_SECONDS``) into :class:`~agents.models.MetricPoint` rows. One worker at a time holds
  the finalisation lease (``SET NX PX``) so minutes are finalised in order (the detectors need
  order); a minute leaves the pending set only if no event arrived for it meanwhile (a
  compare-and-delete on its version), so a late event re-finalises its minute (the point is
  upserted) instead of being lost, and each detector skips minutes it has already seen.
* **Detection on every series** with :class:`agents.monitor.detector.StreamingDetector` (the
  detector scored on NAB), its state kept in Redis beside the last minute it saw. Minute
  rollups cannot see a fault in under a second, so a **fast path**
  (:class:`agents.monitor.fast_path.FastPath`, run after each batch is written) keeps
  per-second counters and tests the last ``FAST_WINDOW_SECONDS`` against the rate of the
  previous ``BASELINE_MINUTES`` (a Poisson tail for counts, a ratio for mean latency), with
  minimum counts; a per-series cooldown (``SET NX EX``) turns a burst into one anomaly.
* Delivery is at-least-once: a worker dying between its increments and its acknowledgement
  counts that batch twice. Rollups are statistics, so this rare over-count is accepted rather
  than paying for a per-event idempotency record on the hot path.

This package imports nothing itself, so the pure detector loads without Django.
"""
