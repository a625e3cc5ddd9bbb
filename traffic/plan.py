"""What each simulated user will do: which dice, how long to think before each roll, which
rolls carry the run's faults (--fault, --fault-rate) and which are batches of many dice
(--batch-share, --max-batch)."""

import random
from dataclasses import dataclass

FALLBACK_DICE = ["fair", "risky"]


@dataclass(frozen=True)
class Roll:
    die: str
    think_seconds: float
    faulted: bool = False  # carries the run's faults
    times: int = 1  # more than 1: a batch of that many dice, rolled at once (/roll-async)


@dataclass(frozen=True)
class Mix:
    """The share of rolls that carry the faults, and that are batches of 2..max_batch dice."""

    fault_rate: float = 0.0
    batch_share: float = 0.0
    max_batch: int = 10


PLAIN = Mix()  # single rolls, no faults


def _roll(rng, dice, think_min, think_max, mix):
    # Always the same draws, so that a fault rate or a batch mix never changes which dice are rolled.
    die, think = rng.choice(dice), rng.uniform(think_min, think_max)
    fault_draw, batch_draw, size_draw = rng.random(), rng.random(), rng.random()
    batch_size = 2 + int(size_draw * (mix.max_batch - 1))  # 2..max_batch
    return Roll(die, think, fault_draw < mix.fault_rate, batch_size if batch_draw < mix.batch_share else 1)


def make_plan(users, max_rolls, dice, think_min, think_max, seed=None, mix=PLAIN):
    """[[Roll, ...] per user]; the same seed, dice and mix give the same plan."""
    rng = random.Random(seed)
    return [
        [_roll(rng, dice, think_min, think_max, mix) for _ in range(rng.randint(1, max_rolls))]
        for _ in range(users)
    ]


def endless_rolls(user, dice, think_min, think_max, seed=None, mix=PLAIN):
    """For --duration: one user's rolls, as many as time allows (the caller bounds them)."""
    rng = random.Random(None if seed is None else f"{seed}-{user}")
    while True:
        yield _roll(rng, dice, think_min, think_max, mix)
