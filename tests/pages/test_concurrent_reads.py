"""Several analysts at once: sessions that ask for the same page data at the same moment
compute it once (no cache stampede), and every session gets the same numbers.

Streamlit runs each session's script in its own thread; ``st.cache_data`` (Streamlit 1.67)
takes a per-key compute lock on a miss, which :mod:`brandmood.ui.data`'s cached reads rely
on. Repeated with a fresh key each round; the computation is held open until every thread
has asked, so a miss that is not serialized shows up as a second computation.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from brandmood.core.access import BrandScope
from brandmood.services import dashboard as sd
from brandmood.ui import data
from db.queries.dashboard import GroupBy
from db.queries.selection import DashboardFilters

THREADS = 8
ROUNDS = 12


def test_concurrent_sessions_compute_the_same_page_data_once(filled, monkeypatch):
    real = sd.page_data
    calls: Counter = Counter()
    asked: Counter = Counter()
    lock = threading.Lock()

    def counting(*, session, filters, group=None):
        with lock:
            calls[(filters, group)] += 1
        deadline = time.monotonic() + 30  # hold the miss open until every thread asked
        while asked[(filters, group)] < THREADS and time.monotonic() < deadline:
            time.sleep(0.005)
        return real(session=session, filters=filters, group=group)

    monkeypatch.setattr(sd, "page_data", counting)
    for rnd in range(ROUNDS):
        key = (DashboardFilters(min_confidence=rnd / 100, scope=BrandScope.ALL),
               None if rnd % 2 else GroupBy.CAMPAIGN)
        start = threading.Barrier(THREADS)
        results, errors = [], []

        def ask(key=key, start=start, results=results, errors=errors) -> None:
            try:
                start.wait(timeout=30)
                with lock:
                    asked[key] += 1
                results.append(data.page_data(*key))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert calls[key] == 1, f"round {rnd}: computed {calls[key]} times"
        assert len(results) == THREADS and all(r == results[0] for r in results)
    with filled.ws.session() as s:  # the numbers are the page's own
        assert results[0] == real(session=s, filters=key[0], group=key[1])
