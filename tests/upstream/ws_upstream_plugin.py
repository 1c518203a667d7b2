"""pytest plugin for Dropbear's own test suite run against our server
(tests/upstream/run.py).

- skip.txt: tests skipped here, each with its reason (shown in the report).
- retry.txt: tests whose pass depends on sub-second timing; each gets up to
  RERUNS more runs, RERUNS_DELAY seconds apart (pytest-rerunfailures' flaky
  marker), and every rerun is listed in the summary ("RERUN ...").

Each line is "TEST_ID REASON"; TEST_ID is as pytest names it relative to
test/ ("test_channels.py::test_signal" for every case, or
"test_channels.py::test_bg_sleep[1]" for one).  An entry that matches no
test fails the run, so a renamed upstream test cannot leave a stale line."""
import gc
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RERUNS = 4
# seconds between runs: a burst of load (a parallel build) passes in the meantime
RERUNS_DELAY = 2


def load(name):
    """{test id: reason} from HERE/name."""
    path = os.path.join(HERE, name)
    entries = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(" ")
            if not reason.strip():
                raise pytest.UsageError(f"{path}:{n}: no reason given for {test_id}")
            entries[test_id] = reason.strip()
    return entries


def matching(item, entries):
    for test_id in (item.nodeid, item.nodeid.split("[")[0]):
        if test_id in entries:
            return test_id
    return None


def pytest_collection_modifyitems(session, config, items):
    skips, retries = load("skip.txt"), load("retry.txt")
    used = set()
    for item in items:
        test_id = matching(item, skips)
        if test_id:
            item.add_marker(pytest.mark.skip(reason=f"ssh-workspace: {skips[test_id]}"))
            used.add(test_id)
            continue
        test_id = matching(item, retries)
        if test_id:
            item.add_marker(pytest.mark.flaky(reruns=RERUNS, reruns_delay=RERUNS_DELAY))
            used.add(test_id)
    stale = sorted((set(skips) | set(retries)) - used)
    if stale and not config.option.keyword and not config.option.markexpr:
        raise pytest.UsageError(f"tests/upstream: no such upstream test: {', '.join(stale)}")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """A failed test's traceback (pytest keeps the last one in sys.last_*)
    holds its locals: in test_channels that is a listening socket on a fixed
    port (HandleTcp never closes it), which then fails every later test that
    binds the port.  Let it go before the next test."""
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect()
