"""The error likelihood behind the detector's naive and seasonal views, on synthetic errors.

What it must do, whatever the series: judge errors against the stream's own history (so the
units do not matter), speak only about errors that grow (a forecast getting better is never
news), stay quiet until it has seen enough, and continue exactly after a state round trip.
"""

from __future__ import annotations

import json
import random

from agents.monitor.likelihood import MIN_LIKELIHOOD, ErrorLikelihood, gaussian_surprise


def _errors(n: int = 800, seed: int = 2) -> list[float]:
    r = random.Random(seed)
    return [abs(r.gauss(0, 1)) for _ in range(n)]


def _run(errors: list[float]) -> list[float]:
    likelihood = ErrorLikelihood(short=10, long=5000)
    return [likelihood.update(e) for e in errors]


def test_the_units_of_the_errors_do_not_matter():
    errors = _errors()
    errors[700:710] = [6.0] * 10
    plain, scaled = _run(errors), _run([e * 1000.0 for e in errors])
    assert max(abs(a - b) for a, b in zip(plain, scaled, strict=True)) < 1e-9
    assert max(plain[700:710]) > 8.0  # ten errors of six sigma are decades of surprise


def test_nothing_is_said_before_enough_history():
    errors = [0.0] * MIN_LIKELIHOOD + [50.0]
    assert _run(errors)[:MIN_LIKELIHOOD] == [0.0] * MIN_LIKELIHOOD


def test_errors_that_shrink_are_never_surprising():
    errors = _errors()
    errors[600:] = [0.0] * 200  # the forecast became perfect
    assert max(_run(errors)[600:]) == 0.0


def test_the_gaussian_tail_is_finite_far_out():
    assert gaussian_surprise(0.0) == 0.0
    assert 2.0 < gaussian_surprise(3.0) < 3.0  # p = 1.3e-3
    assert gaussian_surprise(40.0) > gaussian_surprise(30.0) > 100.0  # past erfc underflow


def test_a_restored_likelihood_continues_bit_for_bit():
    errors = _errors()
    errors[650] = 9.0
    whole, first = ErrorLikelihood(10, 5000), ErrorLikelihood(10, 5000)
    expected = [whole.update(e) for e in errors]
    for e in errors[:400]:
        first.update(e)
    restored = ErrorLikelihood(10, 5000)
    restored.load(json.loads(json.dumps(first.to_state())))
    assert [restored.update(e) for e in errors[400:]] == expected[400:]
