"""A die service that answers like DieServiceClient, without a network, and the roller's
app built on it."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from falcon import testing  # before any test instruments Falcon

from ops.faults import FaultInjector
from roller.app import build_app
from roller.dice import DieRoller
from roller.die_client import Die, UnknownDie

DICE = {"fair": Die([1, 2, 3, 4, 5, 6], 0.0), "risky": Die([2, 3, 4, 5, 6, 7], 0.1), "doomed": Die([1], 1.0)}


class FakeDieService:
    """Answers like DieServiceClient; `failure` makes every call raise it."""

    def __init__(self, failure=None):
        self.failure = failure
        self.asked = []

    def get_die(self, identifier):
        self.asked.append(identifier)
        if self.failure:
            raise self.failure
        if identifier not in DICE:
            raise UnknownDie(identifier)
        return DICE[identifier]

    def is_reachable(self):
        return self.failure is None


class FirstDrawFails(random.Random):
    """A source whose first failure draw (random()) is 0.0 and every later one 0.999: of the
    rolls of a risky die, exactly one fails, whichever thread asks first."""

    def __init__(self):
        super().__init__(1)
        self._lock = threading.Lock()
        self._drawn = False

    def uniform(self, a, b):  # the delay, drawn without random()
        return a

    def random(self):
        with self._lock:
            first, self._drawn = not self._drawn, True
        return 0.0 if first else 0.999


def client_for(die_service, seed=1, rng=None, max_delay_seconds=0, sleep=None, roll_threads=20):
    """A TestClient of the roller's app; its batches roll on a real pool of `roll_threads`."""
    rng = rng or random.Random(seed)
    dice = DieRoller(max_delay_seconds, rng) if sleep is None else DieRoller(max_delay_seconds, rng, sleep)
    roll_pool = ThreadPoolExecutor(max_workers=roll_threads, thread_name_prefix="test-roll")
    return testing.TestClient(build_app(die_service, dice, roll_pool, FaultInjector("dice-roller", enabled=True)))
