"""A closed-loop load generator on loopback: each client sends its next request as soon as
the last one is answered, until the time or the request budget runs out."""

import http.client
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ops.percentiles import nearest_rank


@dataclass
class Answer:
    seconds: float
    finished_at: float  # time.monotonic()
    status: int  # 0: no answer (connection refused, reset or timed out)
    trace_id: str | None


@dataclass
class LoadResult:
    answers: list
    window_seconds: float
    # The rolls still running at the deadline finish after it and are left out of the
    # throughput, so a short window is not biased low.
    answered_in_window: int

    @classmethod
    def of(cls, answers, started_at, deadline):
        return cls(answers, deadline - started_at, sum(answer.finished_at <= deadline for answer in answers))

    def __add__(self, other):
        """Two windows of load on the same target, taken in turns with others, as one."""
        return LoadResult(self.answers + other.answers, self.window_seconds + other.window_seconds,
                          self.answered_in_window + other.answered_in_window)

    @property
    def throughput(self):
        """Answers per second within the window(s)."""
        return self.answered_in_window / self.window_seconds

    @property
    def errors(self):
        return sum(answer.status != 200 for answer in self.answers)

    def percentile(self, share):
        """Nearest-rank percentile of the latencies, in seconds."""
        return nearest_rank(sorted(answer.seconds for answer in self.answers), share)


def run_load(url, clients, seconds, max_requests):
    """`clients` threads send GET `url` (a full URL) for `seconds`, `max_requests` at most."""
    target = urlsplit(url)
    path = f"{target.path}?{target.query}" if target.query else target.path
    answers = []
    lock = threading.Lock()
    budget = [max_requests]
    started_at = time.monotonic()
    deadline = started_at + seconds

    def take_one():
        with lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def client():
        # http.client rather than requests: the generator shares the cores with the services,
        # and the lighter client leaves them more of it.
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        mine = []
        while time.monotonic() < deadline and take_one():
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                status, body = 0, b""
            mine.append(Answer(time.perf_counter() - started, time.monotonic(), status, _trace_id(body)))
        connection.close()
        with lock:
            answers.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A budget spent before the deadline closes the window early.
    last = max((answer.finished_at for answer in answers), default=deadline)
    return LoadResult.of(answers, started_at, min(deadline, last))


def _trace_id(body):
    try:
        return json.loads(body).get("trace_id")
    except (ValueError, AttributeError):
        return None
