"""A die service that answers like DieServiceClient, without a network."""

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
