"""The benchmark's scenarios: each starts the three services afresh as real gunicorn
processes, with production settings, and drives the frontend's GET /roll?die=fair."""

from dataclasses import dataclass, field

from bench import profile
from bench.floor import FloorStack
from bench.load import run_load
from bench.procfs import cpu_seconds, peak_rss_mb
from runtime.processes import SPANS_PER_ROLL, Stack

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


SCENARIOS = [
    # The same three hops with nothing but the frameworks (bench/floor): what the rest costs.
    Scenario("floor", "0. bare chain (the floor)", max_delay_seconds=0, telemetry=False, chain=FloorStack),
    Scenario("delay", "1. delay 0..1 s, telemetry on", max_delay_seconds=1.0),
    Scenario("zero_delay", "2. no delay, telemetry on", max_delay_seconds=0),
    Scenario("zero_delay_untraced", "2. no delay, telemetry off", max_delay_seconds=0, telemetry=False),
    Scenario("scale_out", "5. no delay, 2 workers", max_delay_seconds=0, workers={"frontend": 2, "roller": 2}),
    # Many users waiting on slow rolls at once, with the default settings (issue 14).
    Scenario("crowd_50", "6. delay 0..1 s, 50 clients", max_delay_seconds=1.0, clients=50),
    Scenario("crowd_100", "7. delay 0..1 s, 100 clients", max_delay_seconds=1.0, clients=100),
]
# What the profile pass samples: the floor, the stack without tracing, the full stack.
PROFILED = ("floor", "zero_delay_untraced", "zero_delay")


def run_scenario(scenario, receiver, log_dir, clients, seconds, max_requests, short=False, profile_dir=None):
    """The scenario's figures; with `profile_dir`, py-spy samples the workers meanwhile and the
    figures say how each service's CPU per roll splits into layers (bench/profile.py)."""
    max_delay = min(scenario.max_delay_seconds, SHORT_MAX_DELAY_SECONDS) if short else scenario.max_delay_seconds
    env = {"ROLL_MAX_DELAY_SECONDS": max_delay}
    if scenario.telemetry:
        env.update(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    else:
        env.update(OTEL_SDK_DISABLED="true")
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = scenario.chain(log_dir, **env)
    for service, count in scenario.workers.items():
        getattr(stack, service).env["WEB_CONCURRENCY"] = str(count)

    clients = scenario.clients or clients
    stack.start()
    try:
        url = stack.frontend.url + ROLL_PATH
        if not short:  # connection pools, first imports: a short run measures nothing worth warming up for
            run_load(url, clients, seconds, max_requests=WARM_UP_ROLLS)
        recorders = {}
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
            recorders = {service.name: profile.start(service.process.pid, seconds, profile_dir / service.name)
                         for service in stack.services}
        cpu_before = {service.name: cpu_seconds(service.process.pid) for service in stack.services}
        result = run_load(url, clients, seconds, max_requests)
        cpu = {service.name: cpu_seconds(service.process.pid) - cpu_before[service.name] for service in stack.services}
        memory = {service.name: peak_rss_mb(service.process.pid) for service in stack.services}
        layers = {name: profile.finish(found, profile_dir / name) for name, found in recorders.items()}
    finally:
        stack.stop()  # SIGTERM: each service exports its last spans before it exits

    figures = {
        "title": scenario.title,
        "clients": clients,
        "rolls": len(result.answers),
        "errors": result.errors,
        "rolls_per_second": round(result.throughput, 1),
        **{f"p{share}_ms": _ms(result.percentile(share / 100)) for share in (50, 95, 99)},
        "max_ms": _ms(result.percentile(1.0)),
        # Where the time goes: CPU per roll is steadier than throughput on a busy machine.
        "cpu_ms_per_roll": {name: _ms(used / max(1, len(result.answers)), 2) for name, used in cpu.items()},
        "peak_rss_mb": memory,
    }
    if max_delay:
        # A closed loop of `clients` rolls, each waiting max/2 on average.
        figures["ideal_rolls_per_second"] = round(clients / (max_delay / 2), 1)
    if scenario.telemetry:
        figures.update(_spans(receiver, result))
    if profile_dir:
        figures["cpu_ms_per_roll_by_layer"] = {
            name: {layer: round(share * figures["cpu_ms_per_roll"][name], 3) for layer, share in shares.items()}
            for name, shares in layers.items()
        }
    return figures


def _spans(receiver, result):
    """Spans of the finished rolls' traces, counted trace by trace against the contract's six."""
    trace_ids = {answer.trace_id for answer in result.answers if answer.status == 200 and answer.trace_id}
    expected = SPANS_PER_ROLL * len(trace_ids)

    def lost(traces):
        return sum(max(0, SPANS_PER_ROLL - len(traces.get(trace_id, []))) for trace_id in trace_ids)

    traces = receiver.wait_for(lambda traces: lost(traces) == 0, timeout=10)
    return {
        "spans_expected": expected,
        "spans_received": sum(len(traces.get(trace_id, [])) for trace_id in trace_ids),
        "spans_lost": lost(traces),
    }


def _ms(seconds, digits=1):
    return None if seconds is None else round(seconds * 1000, digits)
