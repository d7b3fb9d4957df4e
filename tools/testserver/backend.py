"""The shared backend every front end (CDN, ingest, gRPC, control) works on:
the served state, the client secret, faults, recordings, the materialization
store, and the stop event that ends the process.
"""

import threading

from faults import Faults
from materialization import MaterializationStore
from recorder import Recorder
from state import ServedState


class Backend:
    def __init__(self, pb, secret, account, log_destinations, key):
        self.pb = pb
        self.secret = secret
        self.account = account
        self.log_destinations = list(log_destinations)
        self.key = key
        self.faults = Faults()
        self.recorder = Recorder()
        self.store = MaterializationStore()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._state = None

    @property
    def state(self):
        with self._lock:
            return self._state

    def set_state(self, data, account=None, log_destinations=None):
        """Replaces the served state; raises ValueError on bytes that are no state.
        account / log_destinations override the startup flags for a wrapped raw state."""
        served = ServedState(
            self.pb,
            data,
            self.account if account is None else account,
            self.log_destinations if log_destinations is None else log_destinations,
            self.key,
        )
        with self._lock:
            self._state = served
        return served

    def authorized(self, header):
        return header == "ClientSecret " + self.secret

    def reset(self, keep_materializations=False):
        self.recorder.reset()
        self.faults.clear()
        if not keep_materializations:
            self.store.clear()

    def sleep(self, seconds):
        """Sleeps up to `seconds` (None = until stop); returns early on shutdown."""
        return self.stop.wait(seconds)
