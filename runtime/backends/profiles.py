"""The CPU samples make run keeps (runtime/backends/pyroscope.py receives and serves them; the trace
view prints them under each span): the last WINDOW_SECONDS within MAX_BYTES, by span too, and what
is known of a span's samples, whether its process's agent has sent them all."""

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import psutil

WINDOW_SECONDS = 15 * 60
# The samples' bytes as the store counts them (a bound on what they take: docs/performance.md,
# "make run over half an hour"): some 50,000 samples, seven times what `traffic --users 20` sends in 15 minutes.
MAX_BYTES = 32 * 2**20
# The agent's own upload interval, until a process's first profile says its own.
AGENT_UPLOAD_SECONDS = 10
# How late a profile may arrive after its window closed (the agent sends it as the window
# closes; a busy machine delays it) before the window is taken as silent.
PUSH_GRACE_SECONDS = 3
# How many upload windows more a process that has sent no profile at all is waited for.
NO_AGENT_WINDOWS = 3

# What is known of a span's samples (ProfileStore.coverage).
ARRIVED = "arrived"  # its process has sent its profiles up to the span's end: all its samples are here
SILENT = "silent"  # ... not that far, but the window of the span's end has closed: the agent sends
#                    nothing for a window without a sample, so all its samples are here too
WAITING = "waiting"  # the window of the span's end is still open, its profile on its way, or its
#                      process stopped (make freeze): it sends that window when it runs again
NO_AGENT = "no agent"  # its window has closed and its process has never sent a profile


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU one stack spent: its service, its labels (`pid`, the worker's process id; while a
    SERVER span runs on the thread, span_id, span_name and trace_id), its functions from the
    outermost to the one running. Kept samples share their names, stacks and labels."""

    service: str
    labels: dict
    stack: tuple
    nanoseconds: int
    end_ns: int  # the end of the profile it came in (Unix time)


@dataclass(frozen=True)
class Profile:
    """One pprof profile of a push: one process's CPU over one upload window [start_ns, end_ns)."""

    service: str
    start_ns: int
    end_ns: int
    samples: list

    @property
    def pid(self):
        """The process it is from (the agent's `pid` label), None when the agent does not say."""
        return self.samples[0].labels.get("pid") if self.samples else None


class Shared:
    """One copy of each value the kept samples hold in common (a name, a stack, a set of
    labels), and how many use it: its bytes are counted once, while anything uses it."""

    ENTRY_BYTES = 150  # its slot in this table and its count, beyond the value's own size

    def __init__(self):
        self._entries = {}  # key -> [value, uses, bytes]
        self.bytes = 0

    def use(self, key):
        """The kept value equal to `key`'s, one use more; None when none is kept."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry[1] += 1
        return entry[0]

    def keep(self, key, value, size):
        """Keeps `value` under `key` (the objects the store holds from now on), used once."""
        self._entries[key] = [value, 1, self.ENTRY_BYTES + size]
        self.bytes += self.ENTRY_BYTES + size
        return value

    def release(self, key):
        """One use fewer: True when that was the last, and the value is gone."""
        entry = self._entries[key]
        entry[1] -= 1
        if entry[1]:
            return False
        del self._entries[key]
        self.bytes -= entry[2]
        return True


def process_stopped(pid):
    """Whether process `pid` of this machine is stopped (SIGSTOP: make freeze, a lab, a paused
    container), so that its agent cannot send what it has; False when it is gone or unknown."""
    try:
        return psutil.Process(int(pid)).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except (psutil.Error, ValueError):
        return False


@dataclass
class Agent:
    """One process's profiling agent, as its profiles tell: up to when its samples have arrived,
    and its upload interval (a profile's length)."""

    until_ns: int
    window_ns: int


class ProfileStore:
    """The CPU samples of the last `window_seconds`, within `max_bytes`, also by span: make run
    asks for a few spans' samples with every trace it prints, never for a scan of all. Samples
    share their function names, stacks and labels: a busy service repeats the same few hundred
    stacks, push after push. `bytes` is what they take, counted (docs/performance.md)."""

    # A kept sample: the object, its slot in the window and in its span's list, its value.
    SAMPLE_BYTES = sys.getsizeof(CpuSample("", {}, (), 0, 0)) + 16 + 32
    SPAN_BYTES = 300  # a span's list of samples and its slot in the index

    def __init__(self, window_seconds=WINDOW_SECONDS, max_bytes=MAX_BYTES, clock=time.time,
                 upload_seconds=AGENT_UPLOAD_SECONDS, grace_seconds=PUSH_GRACE_SECONDS, stopped=process_stopped):
        """`stopped(pid)`: whether that process is stopped, its profiles held up with it."""
        self._stopped = stopped
        self._window_ns = window_seconds * 1e9
        self._max_bytes = max_bytes
        self._upload_ns = upload_seconds * 10**9
        self._grace_ns = grace_seconds * 1e9
        self._samples = deque()  # oldest first
        self._by_span = {}  # span id -> [its samples], oldest first
        self._names = Shared()  # every string: functions, services, label names and values
        self._stacks = Shared()
        self._labels = Shared()
        self._clock = clock
        self._lock = threading.Lock()
        self._agents = {}  # (service, pid) -> Agent

    def add(self, profiles):
        """Keeps the profiles' samples; each profile says its process's samples up to its end have arrived."""
        with self._lock:
            for profile in profiles:
                for sample in profile.samples:
                    self._keep(sample)
                agent = self._agents.setdefault((profile.service, profile.pid), Agent(0, 0))
                agent.until_ns = max(agent.until_ns, profile.end_ns)
                agent.window_ns = profile.end_ns - profile.start_ns
            oldest = self._clock() * 1e9 - self._window_ns
            while self._samples and (self.bytes > self._max_bytes or self._samples[0].end_ns < oldest):
                self._forget(self._samples.popleft())

    def _keep(self, sample):
        kept = CpuSample(self._name(sample.service), self._labels_of(sample.labels), self._stack(sample.stack),
                         sample.nanoseconds, sample.end_ns)
        self._samples.append(kept)
        span_id = kept.labels.get("span_id")
        if span_id is not None:
            self._by_span.setdefault(span_id, []).append(kept)

    def _name(self, name):
        kept = self._names.use(name)
        return self._names.keep(name, name, sys.getsizeof(name)) if kept is None else kept

    def _stack(self, names):
        stack = self._stacks.use(names)
        if stack is None:
            stack = tuple(self._name(name) for name in names)
            self._stacks.keep(stack, stack, sys.getsizeof(stack))
        return stack

    def _labels_of(self, labels):
        key = _flat(labels)
        kept = self._labels.use(key)
        if kept is None:
            kept = {self._name(name): self._name(value) for name, value in labels.items()}
            key = _flat(kept)
            self._labels.keep(key, kept, sys.getsizeof(key) + sys.getsizeof(kept))
        return kept

    def _forget(self, sample):
        """Drops the oldest sample, from its span's list too: both keep the order of arrival."""
        span_id = sample.labels.get("span_id")
        if span_id is not None:
            of_span = self._by_span[span_id]
            of_span.pop(0)
            if not of_span:
                del self._by_span[span_id]
        self._names.release(sample.service)
        if self._stacks.release(sample.stack):
            for name in sample.stack:
                self._names.release(name)
        key = _flat(sample.labels)
        if self._labels.release(key):
            for name in key:
                self._names.release(name)

    @property
    def bytes(self):
        """What the kept samples take, counted as their objects' sizes (a bound: docs/performance.md)."""
        return (len(self._samples) * self.SAMPLE_BYTES + len(self._by_span) * self.SPAN_BYTES
                + self._names.bytes + self._stacks.bytes + self._labels.bytes)

    @property
    def sample_count(self):
        return len(self._samples)

    def coverage(self, service, pid, end_ns):
        """What is known of the samples of a span that ended at `end_ns` (Unix ns) in process
        `pid` of `service`: ARRIVED, SILENT, WAITING or NO_AGENT (above)."""
        with self._lock:
            # An agent that does not say its pid (not report_pid: a program of the learner's) is
            # taken as the one process of its service.
            agent = self._agents.get((service, None if pid is None else str(pid))) or self._agents.get((service, None))
        if agent and agent.until_ns >= end_ns:
            return ARRIVED
        window_ns = agent.window_ns if agent and agent.window_ns else self._upload_ns
        window_end = -(-end_ns // window_ns) * window_ns  # profiles are windows aligned on the interval
        # A process that has sent nothing yet may be one just started, whose agent's first upload
        # comes a few windows late: it is given NO_AGENT_WINDOWS more before it is said to have none.
        patience = self._grace_ns + (0 if agent else NO_AGENT_WINDOWS * window_ns)
        if self._clock() * 1e9 < window_end + patience or (pid is not None and self._stopped(pid)):
            return WAITING
        return SILENT if agent else NO_AGENT

    def select(self, labels, span_ids=None, start_ns=0, end_ns=None):
        """The samples whose labels (the service's `service_name` among them) match `labels`,
        of the spans `span_ids` (any, when None), in profiles ending within [start_ns, end_ns]."""
        with self._lock:
            if span_ids is None:
                samples = list(self._samples)
            else:
                samples = [sample for span_id in span_ids for sample in self._by_span.get(span_id, ())]
        return [sample for sample in samples
                if all((sample.service if name == "service_name" else sample.labels.get(name)) == value
                       for name, value in labels.items())
                and start_ns <= sample.end_ns and (end_ns is None or sample.end_ns <= end_ns)]


def _flat(labels):
    """A set of labels as a key: (name, value, name, value, ...), in their order."""
    return tuple(item for pair in labels.items() for item in pair)


def top_functions(samples, count=3):
    """[(function, nanoseconds)] where the samples were running (each stack's last function), most first."""
    spent = {}
    for sample in samples:
        if sample.stack:
            spent[sample.stack[-1]] = spent.get(sample.stack[-1], 0) + sample.nanoseconds
    return sorted(spent.items(), key=lambda item: -item[1])[:count]


def flamegraph(samples):
    """Pyroscope's FlameGraph: `names` ("total" first) and one level per depth, each node four
    numbers (its offset from the end of its left neighbour, total, self, index in `names`)."""
    root = {"total": 0, "self": 0, "children": {}}
    for sample in samples:
        root["total"] += sample.nanoseconds
        node = root
        for function in sample.stack:
            node = node["children"].setdefault(function, {"total": 0, "self": 0, "children": {}})
            node["total"] += sample.nanoseconds
        node["self"] += sample.nanoseconds
    names, index, levels = ["total"], {"total": 0}, []
    row = [(0, "total", root)]  # (x, name, node) of one depth, left to right
    while row:
        values, end, below = [], 0, []
        for x, name, node in row:
            if name not in index:
                index[name] = len(names)
                names.append(name)
            values += [x - end, node["total"], node["self"], index[name]]
            end = x + node["total"]
            child_x = x
            for child_name, child in sorted(node["children"].items(), key=lambda item: -item[1]["total"]):
                below.append((child_x, child_name, child))
                child_x += child["total"]
        levels.append({"values": [str(value) for value in values]})
        row = below
    max_self = max((int(level["values"][i]) for level in levels for i in range(2, len(level["values"]), 4)), default=0)
    return {"names": names, "levels": levels, "total": str(root["total"]), "maxSelf": str(max_self)}
