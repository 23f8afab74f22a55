"""`Stagger`: random delays handed out in ascending order batch by batch, uniform overall."""

from __future__ import annotations

import random
import statistics
from itertools import pairwise

import pytest

from zuora_workflow_sync.sync.batches import Stagger

LOW, HIGH = 1.0, 60.0


def _batches(stagger: Stagger, total: int, size: int) -> list[list[float]]:
    return [stagger.next(min(size, total - start)) for start in range(0, total, size)]


def test_each_batch_starts_where_the_one_before_ended_when_delays_are_random() -> None:
    batches = _batches(Stagger(random.Random(7), LOW, HIGH, None, 10_000), 10_000, 1000)

    for before, after in pairwise(batches):
        assert max(before) <= min(after)
    assert all(LOW <= delay <= HIGH for batch in batches for delay in batch)


def test_delays_are_uniform_over_the_window_when_taken_together() -> None:
    delays = [
        d
        for b in _batches(Stagger(random.Random(3), LOW, HIGH, None, 50_000), 50_000, 5000)
        for d in b
    ]

    width = HIGH - LOW
    assert statistics.fmean(delays) == pytest.approx((LOW + HIGH) / 2, abs=0.01 * width)
    assert statistics.pstdev(delays) == pytest.approx(width / 12**0.5, rel=0.02)
    deciles = [0] * 10
    for delay in delays:
        deciles[min(int((delay - LOW) / width * 10), 9)] += 1
    assert all(abs(count - 5000) < 400 for count in deciles)


def test_customers_of_one_batch_get_its_delays_in_random_order() -> None:
    stagger = Stagger(random.Random(11), LOW, HIGH, None, 2000)

    delays = stagger.next(2000)

    assert delays != sorted(delays)
    assert len(set(delays)) == len(delays)


def test_customers_beyond_the_count_get_uniform_draws_inside_the_window() -> None:
    stagger = Stagger(random.Random(5), LOW, HIGH, None, 10)

    counted, extra = stagger.next(10), stagger.next(50)

    assert len(counted) == 10 and len(extra) == 50
    assert all(LOW <= delay <= HIGH for delay in counted + extra)
    assert len(set(extra)) == 50


def test_spread_gives_evenly_spaced_delays_counted_across_batches() -> None:
    stagger = Stagger(random.Random(1), LOW, HIGH, 100.0, 4)

    assert stagger.next(2) + stagger.next(2) + stagger.next(1) == [0.0, 25.0, 50.0, 75.0, 100.0]
