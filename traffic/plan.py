"""What each simulated user will do: which dice, how long to think before each roll, and
which rolls carry the run's faults (--fault, --fault-rate)."""

import random
from dataclasses import dataclass

FALLBACK_DICE = ["fair", "risky"]


@dataclass(frozen=True)
class Roll:
    die: str
    think_seconds: float
    faulted: bool = False  # carries the run's faults


def _roll(rng, dice, think_min, think_max, fault_rate):
    # Always three draws, so that a fault rate never changes which dice are rolled.
    die, think, draw = rng.choice(dice), rng.uniform(think_min, think_max), rng.random()
    return Roll(die, think, draw < fault_rate)


def make_plan(users, max_rolls, dice, think_min, think_max, seed=None, fault_rate=0.0):
    """[[Roll, ...] per user]; the same seed and dice give the same plan."""
    rng = random.Random(seed)
    return [
        [_roll(rng, dice, think_min, think_max, fault_rate) for _ in range(rng.randint(1, max_rolls))]
        for _ in range(users)
    ]


def endless_rolls(user, dice, think_min, think_max, seed=None, fault_rate=0.0):
    """For --duration: one user's rolls, as many as time allows (the caller bounds them)."""
    rng = random.Random(None if seed is None else f"{seed}-{user}")
    while True:
        yield _roll(rng, dice, think_min, think_max, fault_rate)
