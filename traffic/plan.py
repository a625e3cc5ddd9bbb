"""What each simulated user will do: which dice, and how long to think before each roll."""

import random
from dataclasses import dataclass

FALLBACK_DICE = ["fair", "risky"]


@dataclass(frozen=True)
class Roll:
    die: str
    think_seconds: float


def make_plan(users, max_rolls, dice, think_min, think_max, seed=None):
    """[[Roll, ...] per user]; the same seed and dice give the same plan."""
    rng = random.Random(seed)
    return [
        [Roll(rng.choice(dice), rng.uniform(think_min, think_max)) for _ in range(rng.randint(1, max_rolls))]
        for _ in range(users)
    ]


def endless_rolls(user, dice, think_min, think_max, seed=None):
    """For --duration: one user's rolls, as many as time allows (the caller bounds them)."""
    rng = random.Random(None if seed is None else f"{seed}-{user}")
    while True:
        yield Roll(rng.choice(dice), rng.uniform(think_min, think_max))
