"""Reloads (units, recording transport): coalesced, parameters carried over, nothing skipped, sessions released."""
from __future__ import annotations

import time

import pytest

from bridge.errors import ModelError
from bridge.runtime import ModelBundle, default_models_dir
from fakeplugins import ARP, SLOW
from test_host import make_host, wait_for


def test_a_storm_of_reloads_is_merged_into_a_few_builds():
    host, clock, transport = make_host(SLOW, ARP)
    try:
        host.set_param("slow", "warmup", 0.3)         # each build's prepare() takes 0.3 s
        host.set_param("slow", "delay", 0.0)
        assert wait_for(lambda: host.slots["slow"].gen["warmup"] == 0.3)
        host.play("slow")
        for _ in range(100):
            host.reload("slow")
            time.sleep(0.005)                          # 100 requests in ~0.5 s
        assert wait_for(lambda: not host.slots["slow"].reloading, 10)
        assert 1 <= host.slots["slow"].reloads <= 4, host.slots["slow"].reloads
        assert host.status()["generators"]["slow"]["reloads"] == host.slots["slow"].reloads
    finally:
        host.stop()
        host.close()


def test_parameters_set_during_a_build_reach_the_fresh_instance():
    host, clock, transport = make_host(SLOW)
    try:
        host.set_param("slow", "warmup", 0.5)
        assert wait_for(lambda: host.slots["slow"].gen["warmup"] == 0.5)
        first = host.slots["slow"].gen
        host.reload("slow")
        time.sleep(0.1)                                # the build is in prepare() now
        host.set_param("slow", "channel", 9)
        assert wait_for(lambda: host.slots["slow"].gen is not first, 10)
        assert host.slots["slow"].gen["channel"] == 9
    finally:
        host.stop()
        host.close()


def test_a_reload_swaps_in_after_the_queued_phrase_without_cancelling_it():
    host, clock, transport = make_host(ARP)
    try:
        host.play("arp")
        assert wait_for(lambda: len(transport.schedules("arp")) >= 2)
        host.reload("arp")
        assert wait_for(lambda: host.slots["arp"].reloads == 1)
        n = len(transport.schedules("arp"))
        assert wait_for(lambda: len(transport.schedules("arp")) >= n + 2)
        assert not [c for c in transport.calls if c[0] == "cancel"]       # nothing queued was dropped
        starts = [c[2] for c in transport.schedules("arp")]
        assert all(b - a == clock.beats_per_bar for a, b in zip(starts, starts[1:])), starts
    finally:
        host.stop()
        host.close()


def test_close_joins_a_reload_in_progress_and_closes_what_it_built():
    host, clock, transport = make_host(SLOW)
    host.set_param("slow", "warmup", 0.6)
    assert wait_for(lambda: host.slots["slow"].gen["warmup"] == 0.6)
    host.reload("slow")
    time.sleep(0.1)
    start = time.monotonic()
    host.close(timeout=2.0)
    assert time.monotonic() - start < 2.0
    assert host.busy() == []
    host.reload("slow")                                # after close: ignored, no new thread
    assert host.busy() == []


def test_a_closed_bundle_has_released_its_sessions():
    folder = default_models_dir() / "musicvae-mel2bar"
    if not (folder / "manifest.json").is_file():
        pytest.skip("no shipped musicvae-mel2bar model")
    bundle = ModelBundle.load(folder)
    graph = next(iter(bundle.graphs.values()))
    bundle.close()
    assert all(g.session is None for g in bundle.graphs.values())
    with pytest.raises(ModelError, match="closed"):
        graph.run(**{k: None for k in graph.inputs})
