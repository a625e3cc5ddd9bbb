"""The benchmark's scenarios: each starts the three services afresh as real gunicorn
processes, with production settings, and drives the frontend's GET /roll?die=fair."""

import functools
import math
import operator
import uuid
from dataclasses import dataclass, field

from bench import profile
from bench.floor import FloorStack
from bench.load import LoadResult, run_load
from bench.procfs import cpu_seconds, peak_rss_mb
from harness.stack import Stack
from ops.percentiles import percentiles_ms
from ops.services import SPANS_PER_ROLL

ROLL_PATH = "/roll?die=fair"  # the fair die never fails, so every error is ours
WARM_UP_ROLLS = 20
# --short proves that the benchmark runs and judges nothing: rolls wait 0..0.05 s, not 0..1 s.
SHORT_MAX_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    max_delay_seconds: float
    telemetry: bool = True
    workers: dict = field(default_factory=dict)  # Stack attribute -> WEB_CONCURRENCY
    clients: int | None = None  # this many, whatever --clients says
    chain: type = Stack  # what runs: the services, or the bare chain of the same frameworks
    database: str = "sqlite"  # or "postgresql": a database of its own on the run's PostgreSQL
    profiles: bool = False  # each worker's Pyroscope agent on, at its default rate, pushing to the run's receiver


SCENARIOS = [
    # The same three hops with nothing but the frameworks (bench/floor): what the rest costs.
    Scenario("floor", "0. bare chain (the floor)", max_delay_seconds=0, telemetry=False, chain=FloorStack),
    Scenario("delay", "1. delay 0..1 s, telemetry on", max_delay_seconds=1.0),
    Scenario("zero_delay", "2. no delay, telemetry on", max_delay_seconds=0),
    Scenario("zero_delay_untraced", "2. no delay, telemetry off", max_delay_seconds=0, telemetry=False),
    # The fourth signal's price: the same, with every worker profiling itself (docs/telemetry.md, "Profiles").
    Scenario("zero_delay_profiled", "2. no delay, telemetry and profiles on", max_delay_seconds=0, profiles=True),
    # The same pair on PostgreSQL: the floor's query with psycopg alone, the stack's through its pool.
    Scenario("floor_postgres", "0. bare chain, PostgreSQL", max_delay_seconds=0, telemetry=False, chain=FloorStack,
             database="postgresql"),
    Scenario("zero_delay_postgres", "3. no delay, telemetry on, PostgreSQL", max_delay_seconds=0,
             database="postgresql"),
    Scenario("scale_out", "5. no delay, 2 workers", max_delay_seconds=0, workers={"frontend": 2, "roller": 2}),
    # Many users waiting on slow rolls at once, with the default settings (issue 14).
    Scenario("crowd_50", "6. delay 0..1 s, 50 clients", max_delay_seconds=1.0, clients=50),
    Scenario("crowd_100", "7. delay 0..1 s, 100 clients", max_delay_seconds=1.0, clients=100),
]
# The cost of observability: the floor, the stack without tracing and the full stack, measured
# side by side (run_side_by_side) for fair ratios, and what the profile pass samples; on SQLite,
# with profiles too, and the floor and the full stack on PostgreSQL.
SIDE_BY_SIDE = ("floor", "zero_delay_untraced", "zero_delay", "zero_delay_profiled", "floor_postgres",
                "zero_delay_postgres")


def run_scenario(scenario, receiver, log_dir, clients, seconds, max_requests, short=False, profile_dir=None,
                 postgres=None, profiles=None):
    """The scenario's figures (one scenario alone: see run_side_by_side)."""
    return run_side_by_side([scenario], receiver, log_dir, clients, seconds, max_requests, short=short,
                            profile_dir=profile_dir, postgres=postgres, profiles=profiles)[scenario.name]


def run_side_by_side(scenarios, receiver, log_dir, clients, seconds, max_requests, turns=1, short=False,
                     profile_dir=None, postgres=None, profiles=None, share_stacks=False):
    """{name: figures} of scenarios whose stacks run at once, the load going to each in turn,
    `turns` times for seconds/turns: whatever slows the shared machine for a while (another
    tenant, a throttled core) falls on all of them alike, so that their ratios are fair.
    With `profile_dir`, py-spy samples the workers meanwhile and the figures say how each
    service's CPU per roll splits into layers (bench/profile.py). `postgres` (harness/postgres.py)
    holds the databases of the scenarios on PostgreSQL; `profiles` (runtime/backends/profiles.py)
    receives the profiles of the scenarios with profiles on. `share_stacks`: scenarios that start
    the same stack get one between them (--short: their memory is then one figure, the stack's)."""
    stacks, started = {}, {}
    try:
        for scenario in scenarios:
            same = _stack_settings(scenario, short) if share_stacks else scenario.name
            if same not in started:
                started[same] = _start(scenario, receiver, log_dir / scenario.name, short, postgres, profiles)
            stacks[scenario.name] = started[same]
        if not short:  # connection pools, first imports: a short run measures nothing worth warming up for
            for scenario in scenarios:
                run_load(_url(stacks[scenario.name]), _clients(scenario, clients), seconds, WARM_UP_ROLLS)
        turns_of = {scenario.name: [] for scenario in scenarios}
        for turn in range(turns):
            for scenario in scenarios:
                turns_of[scenario.name].append(_measure(
                    stacks[scenario.name], _clients(scenario, clients), seconds / turns,
                    math.ceil(max_requests / turns), profile_dir and profile_dir / scenario.name, turn,
                ))
        measured = {name: functools.reduce(operator.add, parts) for name, parts in turns_of.items()}
        memory = {name: {service.name: peak_rss_mb(service.process.pid) for service in stack.services}
                  for name, stack in stacks.items()}
    finally:
        for stack in started.values():
            stack.stop()  # SIGTERM: each service exports its last spans before it exits
    return {
        scenario.name: _figures(scenario, measured[scenario.name], memory[scenario.name], _clients(scenario, clients),
                                receiver, short, profile_dir and profile_dir / scenario.name)
        for scenario in scenarios
    }


def _stack_settings(scenario, short):
    """What the scenario's stack is started with: two scenarios alike in it can share one."""
    return (scenario.chain, _max_delay(scenario, short), scenario.telemetry, tuple(sorted(scenario.workers.items())),
            scenario.database, scenario.profiles)


def _start(scenario, receiver, log_dir, short, postgres, profiles):
    env = {"ROLL_MAX_DELAY_SECONDS": _max_delay(scenario, short)}
    if scenario.profiles:
        env["PYROSCOPE_SERVER_ADDRESS"] = profiles.url
    if scenario.database == "postgresql":
        env["DATABASE_URL"] = postgres.create_database(f"bench_{scenario.name}_{uuid.uuid4().hex[:8]}")
    if scenario.telemetry:
        env.update(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    else:
        env.update(OTEL_SDK_DISABLED="true")
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = scenario.chain(log_dir, **env)
    for service, count in scenario.workers.items():
        getattr(stack, service).env["WEB_CONCURRENCY"] = str(count)
    stack.start()
    return stack


@dataclass
class Measured:
    """One scenario's load and the CPU its services used meanwhile, over one or more turns."""
    load: LoadResult
    cpu_seconds: dict  # service name -> seconds

    def __add__(self, other):
        return Measured(self.load + other.load,
                        {name: used + other.cpu_seconds[name] for name, used in self.cpu_seconds.items()})


def _measure(stack, clients, seconds, max_requests, profile_dir, turn):
    recorders = []
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
        # Each turn's samples in files of their own: frontend.<turn>.<worker pid>.txt
        for service in stack.services:
            recorders += profile.start(service.process.pid, seconds, profile_dir / f"{service.name}.{turn}")
    cpu_before = {service.name: cpu_seconds(service.process.pid) for service in stack.services}
    load = run_load(_url(stack), clients, seconds, max_requests)
    cpu = {service.name: cpu_seconds(service.process.pid) - cpu_before[service.name] for service in stack.services}
    profile.wait(recorders)
    return Measured(load, cpu)


def _figures(scenario, measured, memory, clients, receiver, short, profile_dir):
    result = measured.load
    figures = {
        "title": scenario.title,
        "clients": clients,
        "rolls": len(result.answers),
        "errors": result.errors,
        "rolls_per_second": round(result.throughput, 1),
        **{f"p{share}_ms": _ms(result.percentile(share / 100)) for share in (50, 95, 99)},
        "max_ms": _ms(result.percentile(1.0)),
        # Where the time goes: CPU per roll is steadier than throughput on a busy machine.
        "cpu_ms_per_roll": {name: _ms(used / max(1, len(result.answers)), 2)
                            for name, used in measured.cpu_seconds.items()},
        "peak_rss_mb": memory,
    }
    max_delay = _max_delay(scenario, short)
    if max_delay:
        # A closed loop of `clients` rolls, each waiting max/2 on average.
        figures["ideal_rolls_per_second"] = round(clients / (max_delay / 2), 1)
    if scenario.telemetry:
        figures.update(_spans(receiver, result))
    if profile_dir:
        figures["cpu_ms_per_roll_by_layer"] = {
            name: {layer: round(share * figures["cpu_ms_per_roll"][name], 3)
                   for layer, share in profile.layer_shares(profile_dir / name).items()}
            for name in measured.cpu_seconds
        }
    return figures


def _max_delay(scenario, short):
    return min(scenario.max_delay_seconds, SHORT_MAX_DELAY_SECONDS) if short else scenario.max_delay_seconds


def _clients(scenario, clients):
    return scenario.clients or clients


def _url(stack):
    return stack.frontend.url + ROLL_PATH


def _spans(receiver, result):
    """Spans of the finished rolls' traces, counted trace by trace against the contract's seven;
    and what the database query took, from its span, beside the die service's whole answer."""
    trace_ids = {answer.trace_id for answer in result.answers if answer.status == 200 and answer.trace_id}
    expected = SPANS_PER_ROLL * len(trace_ids)

    def lost(traces):
        return sum(max(0, SPANS_PER_ROLL - len(traces.get(trace_id, []))) for trace_id in trace_ids)

    traces = receiver.wait_for(lambda traces: lost(traces) == 0, timeout=10)
    die_service = [span for trace_id in trace_ids for span in traces.get(trace_id, []) if span.service == "die-service"]
    return {
        "spans_expected": expected,
        "spans_received": sum(len(traces.get(trace_id, [])) for trace_id in trace_ids),
        "spans_lost": lost(traces),
        "query_span_ms": percentiles_ms([s.seconds for s in die_service if s.kind == "CLIENT"], (50, 95), digits=2),
        "die_service_span_ms": percentiles_ms([s.seconds for s in die_service if s.kind == "SERVER"], (50, 95),
                                              digits=2),
    }


def _ms(seconds, digits=1):
    return None if seconds is None else round(seconds * 1000, digits)
