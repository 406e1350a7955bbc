"""The JACK rerun hook (tests/jack_rerun.py): a failure with lost periods is run again, any other is not."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

INNER = '''
from pathlib import Path

import peers

LOG = Path(__file__).with_name("jackd.log")
COUNT = Path(__file__).with_name("count")
server = peers.JackServer(name="fake")   # never started: only its log is read
server.log = LOG
LOG.write_text("")
peers.STARTED.append(server)


def attempt() -> int:
    n = int(COUNT.read_text()) + 1 if COUNT.exists() else 1
    COUNT.write_text(str(n))
    return n


def test_jack_receiver_lost_a_period_once():
    if attempt() == 1:
        with LOG.open("a") as log:
            log.write("JackEngine::XRun: client = dump1 was not finished, state = Triggered\\n")
        assert False, "the receiver got 3 notes of 4"


def test_jack_note_missing_without_a_lost_period():
    assert False, "ours"


def test_a_unit_test_is_never_rerun():
    with LOG.open("a") as log:
        log.write("client = x was not finished\\n")
    assert False, "ours too"
'''


def test_a_jack_failure_with_lost_periods_is_rerun_and_no_other(pytester):
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                          "from jack_rerun import pytest_collection_modifyitems, pytest_runtest_call\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "rerunfailures", "-p", "no:cacheprovider", "-q")
    assert result.parseoutcomes() == {"passed": 1, "failed": 2, "rerun": 1}
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_jack_note_missing_without_a_lost_period - Assertio*",
                                 "FAILED test_inner.py::test_a_unit_test_is_never_rerun - Assertio*"])
    result.stdout.no_fnmatch_line("*JackLostPeriods*")
