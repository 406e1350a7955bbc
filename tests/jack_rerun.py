"""Rerun a JACK test whose receiver may have lost what was sent (conftest.py imports these hooks).

JACK's graph drops a period's MIDI for a client that misses its deadline (``peers.JackServer.lost_periods``
counts them in jackd's log). Under load a receiver such as ``jack_midi_dump`` can then miss a note the host
sent, and a test that counts notes fails for a reason that is not ours. Such a test is run again, twice at
most (pytest-rerunfailures' ``flaky`` marker), and only when the failure came with lost periods: an assertion
that fails while no period was lost fails at once.
"""
from __future__ import annotations

import pytest

import peers


class JackLostPeriods(AssertionError):
    """A test's assertion failed while a JACK server of ours lost periods (its cause is the assertion)."""


ON_JACK = pytest.StashKey[bool]()

#: fixtures that put a test on a JACK server
JACK_FIXTURES = {"jack_server", "midi_receiver", "audio_server", "realtime_jack"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        closure = set(getattr(getattr(item, "_fixtureinfo", None), "names_closure", ()))
        if closure & JACK_FIXTURES or "jack" in item.nodeid.lower():
            item.add_marker(pytest.mark.flaky(reruns=2, only_rerun=["JackLostPeriods"]))
            item.stash[ON_JACK] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A JACK test's assertion that fails while JACK lost periods is raised again as ``JackLostPeriods``; any other
    failure stays what it is."""
    if not item.stash.get(ON_JACK, False):
        return (yield)
    marks = {id(server): server.log_mark() for server in peers.STARTED}
    try:
        return (yield)
    except AssertionError as exc:
        if isinstance(exc, JackLostPeriods):
            raise
        lost = sum(server.lost_periods(marks.get(id(server), 0)) for server in peers.STARTED)
        if lost:
            raise JackLostPeriods(f"JACK lost {lost} period(s) during this test, so the receiver may have "
                                  f"missed what was sent: {exc}") from exc
        raise
