"""Clock and Anchor: beats <-> seconds, continuous tempo changes, bar lines, listeners."""
from __future__ import annotations

import pickle
import threading
import time

import pytest

from bridge.clock import Anchor, Clock
from bridge.errors import ConfigError


def test_anchor_maps_both_ways_and_pickles():
    anchor = Anchor(t0=100.0, beat0=8.0, bpm=120.0)
    assert anchor.beat_at(101.0) == pytest.approx(10.0)
    assert anchor.time_at(10.0) == pytest.approx(101.0)
    assert anchor.time_at(anchor.beat_at(123.456)) == pytest.approx(123.456)
    assert pickle.loads(pickle.dumps(anchor)) == anchor


def test_clock_runs_at_its_tempo():
    clock = Clock(bpm=240)
    start = clock.now()
    time.sleep(0.25)
    assert clock.now() - start == pytest.approx(1.0, abs=0.4)  # 4 beats a second, loaded machine
    assert clock.beat_at(clock.time_at(17.25)) == pytest.approx(17.25)


def test_set_tempo_keeps_beat_continuous_and_notifies():
    clock = Clock(bpm=120)
    seen = []
    clock.add_listener(seen.append)
    before = clock.now()
    anchor = clock.set_tempo(60)
    assert anchor.bpm == 60 and clock.bpm == 60
    assert anchor.beat0 == pytest.approx(before, abs=0.05)
    assert seen == [anchor]
    # at 60 BPM one second is one beat from the new anchor
    assert clock.time_at(anchor.beat0 + 1) - anchor.t0 == pytest.approx(1.0)


def test_follow_adopts_external_phase():
    clock = Clock(bpm=120)
    seen = []
    clock.add_listener(seen.append)
    external = Anchor(time.monotonic(), 100.0, 90.0)
    clock.follow(external)
    assert clock.anchor == external and seen == [external]
    assert clock.now() == pytest.approx(100.0, abs=0.1)
    with pytest.raises(ConfigError):
        clock.follow(Anchor(0.0, 0.0, 500.0))


@pytest.mark.parametrize("bpm", [0, 19.9, 300.1, float("nan"), "fast", None])
def test_tempo_out_of_range_is_a_config_error(bpm):
    with pytest.raises(ConfigError, match="tempo"):
        Clock(bpm=bpm)
    with pytest.raises(ConfigError, match="tempo"):
        Clock().set_tempo(bpm)


def test_next_bar():
    clock = Clock(bpm=120, beats_per_bar=4)
    assert clock.next_bar(0.0) == 0.0
    assert clock.next_bar(0.1) == 4.0
    assert clock.next_bar(4.0) == 4.0
    assert clock.next_bar(3.9, margin=0.5) == 8.0
    assert Clock(beats_per_bar=3).next_bar(4.0) == 6.0
    assert clock.next_bar() >= clock.now()
    with pytest.raises(ConfigError):
        Clock(beats_per_bar=0)


def test_a_failing_listener_does_not_stop_others():
    clock = Clock()
    seen = []

    def broken(_anchor):
        raise RuntimeError("boom")

    clock.add_listener(broken)
    clock.add_listener(seen.append)
    clock.set_tempo(100)
    assert len(seen) == 1
    clock.remove_listener(seen.append)
    clock.set_tempo(110)
    assert len(seen) == 1


def test_set_tempo_is_thread_safe():
    clock = Clock(bpm=120)
    errors = []

    def worker(bpm):
        try:
            for _ in range(200):
                clock.set_tempo(bpm)
                clock.now()
        except Exception as err:  # pragma: no cover - would be the failure
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(b,)) for b in (60, 90, 180)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and clock.bpm in (60, 90, 180)
    # beats never jumped backwards across all those changes
    a = clock.now()
    assert clock.now() >= a


def test_align_takes_a_daws_bar_phase_by_the_shortest_way_and_ignores_jitter():
    clock = Clock(bpm=60, beats_per_bar=4)       # one beat a second: test latency is a few thousandths
    assert clock.align(2.5) == pytest.approx(2.5, abs=0.05)   # at beat ~0: forward, never before beat 0
    clock.follow(Anchor(time.monotonic(), 40.0, 60.0))
    seen = []
    clock.add_listener(seen.append)
    here = clock.now()
    shift = clock.align(here + 4 * 25 + 1.0)     # a song position 1 beat ahead in its bar, 25 bars on
    assert shift == pytest.approx(1.0, abs=0.01) and len(seen) == 1
    assert (clock.now() - here) % 4 == pytest.approx(1.0, abs=0.05)
    here = clock.now()
    assert clock.align(here + 4 * 3 - 1.5) == pytest.approx(-1.5, abs=0.01)   # behind: moves back, not on
    assert clock.align(clock.now() + 0.01) == 0.0 and len(seen) == 2          # within the dead band: no change
    clock.align(clock.now() + 0.01, bpm=90)                                    # a tempo alone still applies
    assert clock.bpm == 90 and len(seen) == 3
    with pytest.raises(ConfigError, match="song position"):
        clock.align(float("nan"))
