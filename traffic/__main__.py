"""python -m traffic: simulated users rolling dice through the frontend, then a summary.

    python -m traffic --users 10 --max-rolls 20          # a planned run
    python -m traffic --duration 300                      # users rolling for five minutes
    python -m traffic --fault die-service=delay:1500 --fault-rate 0.2   # a fifth of the rolls slowed
    python -m traffic --batch-share 0.3 --max-batch 10    # 30 % of the rolls: 2..10 dice at once

`python -m labs` starts it with `--lab NAME`: the lab's faults come on standard input, not on the
command line, where `ps` would show them (docs/labs.md, "Lab faults").
"""

import argparse
import json
import logging
import os
import sys
import threading
import time

import requests
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ops.faults import DATABASE, DATABASE_FORMS, FORMS, MalformedFault, one_of, parse_database_fault, parse_fault
from ops.http_session import create_session
from ops.services import DIE_SERVICE, FRONTEND, SERVICES
from ops.telemetry import create_tracer_provider, use_stable_semantic_conventions
from ops.validation import MAX_TIMES, is_valid_identifier
from runtime.launcher.run_file import exporting_to, live_run
from traffic.plan import FALLBACK_DICE, Mix, endless_rolls, make_plan
from traffic.runner import Run
from traffic.summary import render_text, summarize

err = Console(stderr=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m traffic", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://localhost:{FRONTEND.local_port}",
                        help="the frontend (default %(default)s)")
    parser.add_argument("--die-service-url",
                        default=os.environ.get("DIE_SERVICE_URL", f"http://localhost:{DIE_SERVICE.local_port}"),
                        help="where the dice come from (default %(default)s)")
    parser.add_argument("--users", type=int, default=10, help="concurrent users (default %(default)s)")
    parser.add_argument("--max-rolls", type=int, default=20, help="each user rolls 1..N times (default %(default)s)")
    parser.add_argument("--think-min", type=float, default=0.5, help="seconds (default %(default)s)")
    parser.add_argument("--think-max", type=float, default=2.0, help="seconds (default %(default)s)")
    parser.add_argument("--duration", type=float, help="roll continuously for this many seconds instead")
    parser.add_argument("--seed", type=int, help="makes the plan reproducible")
    parser.add_argument("--dice", type=dice_argument,
                        help="roll only these dice, e.g. fair,coin (default: every die the die service has)")
    parser.add_argument("--fault", action="append", default=[], type=fault_argument, metavar="SERVICE=KIND:VALUE",
                        help="a fault for the rolls to carry, e.g. die-service=delay:1500 (repeatable)")
    parser.add_argument("--fault-rate", type=float, default=1.0,
                        help="the share of rolls that carry the faults (default %(default)s)")
    parser.add_argument("--batch-share", type=float, default=0.0,
                        help="the share of rolls that are batches of many dice, rolled at once (default %(default)s)")
    parser.add_argument("--max-batch", type=int, default=10,
                        help=f"a batch rolls 2..N dice, N at most {MAX_TIMES} (default %(default)s)")
    parser.add_argument("--lab", metavar="NAME",
                        help="roll for the lab NAME (python -m labs does): the rolls' root spans carry lab.name=NAME, "
                             "and the faults, one SERVICE=KIND:VALUE a line on standard input, travel as the lab's, "
                             "recorded nowhere")
    parser.add_argument("--no-trace", action="store_true", help="do not trace the rolls")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--grafana-url", default=os.environ.get("GRAFANA_URL", "http://localhost:3000"))
    parser.add_argument("--trace-view-url", default=os.environ.get("TRACE_VIEW_URL"),
                        help="where the summary's trace links open: make run's trace pages when it runs "
                             "(default), else Grafana (--grafana-url)")
    args = parser.parse_args(argv)
    if args.users < 1 or args.max_rolls < 1 or not 0 <= args.think_min <= args.think_max:
        parser.error("need --users >= 1, --max-rolls >= 1 and 0 <= --think-min <= --think-max")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if not 0 <= args.fault_rate <= 1 or not 0 <= args.batch_share <= 1:
        parser.error("--fault-rate and --batch-share must be from 0 to 1")
    if not 2 <= args.max_batch <= MAX_TIMES:
        parser.error(f"--max-batch must be from 2 to {MAX_TIMES}")
    if args.lab and args.fault:
        parser.error("--lab takes its faults on standard input, not --fault")
    if args.lab and not sys.stdin.isatty():
        try:
            args.fault = [fault_argument(line) for line in sys.stdin.read().splitlines() if line.strip()]
        except argparse.ArgumentTypeError as problem:
            parser.error(f"standard input: {problem}")
    return args


def send_spans_to_make_run(run):
    """With no endpoint of the user's, the spans go where a running make run receives them (its
    run.json): the users' spans are then the roots of the trees it prints, not missing parents."""
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if run.get("otlp") and not any(os.environ.get(name) for name in endpoints):
        for name, value in exporting_to(run["otlp"]).items():
            os.environ.setdefault(name, value)


def fault_argument(text):
    """SERVICE=KIND:VALUE, as ops.faults reads it: die-service=error:503, or database=delay:300
    (applied by the die service inside its query)."""
    service, _, fault = text.partition("=")
    service = service.strip()
    known = [*(known_service.name for known_service in SERVICES), DATABASE]
    if service not in known:
        # A fault naming no service would travel with the rolls and break nothing.
        raise argparse.ArgumentTypeError(
            f"{text!r}: no service is named {service!r}; the services are {', '.join(known)}"
        )
    parse, forms = (parse_database_fault, DATABASE_FORMS) if service == DATABASE else (parse_fault, FORMS)
    try:
        return service, parse(fault)
    except MalformedFault:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {one_of(forms, f'{service}=')}") from None


def dice_argument(text):
    dice = [die.strip() for die in text.split(",")]
    if not all(is_valid_identifier(die) for die in dice):
        raise argparse.ArgumentTypeError(f"{text!r}: expected identifiers separated by commas, e.g. fair,coin")
    return dice


def current_dice(session, die_service_url):
    try:
        dice = session.get(f"{die_service_url}/dice", timeout=3).json()["identifiers"]
        if dice:
            return dice
    except (requests.RequestException, ValueError, KeyError, TypeError):
        pass
    err.print(f"Could not get the dice from {die_service_url}; rolling {', '.join(FALLBACK_DICE)} instead.")
    return FALLBACK_DICE


def main(argv=None):
    args = parse_args(argv)
    # The libraries' warnings (a full connection pool, a failed span export) reach the terminal.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    session = create_session(pool_size=args.users)  # a kept connection for each user rolling at once
    url = args.url.rstrip("/")
    try:
        session.get(f"{url}/healthz", timeout=3).raise_for_status()
    except requests.RequestException:
        err.print(f"Cannot reach the frontend at {url}: start the sandbox first (make run).")
        return 2
    # Asked before the instrumentation is on: a trace starts at a user's roll, never here.
    dice = args.dice or current_dice(session, args.die_service_url.rstrip("/"))
    make_run = live_run() or {}  # a running make run of this checkout: its receiver, its trace pages
    if not args.no_trace:
        send_spans_to_make_run(make_run)
        trace.set_tracer_provider(create_tracer_provider("traffic-generator"))
        use_stable_semantic_conventions()
        RequestsInstrumentor().instrument()

    run = Run(url, session, faults=args.fault, lab=args.lab)
    mix = Mix(args.fault_rate if args.fault else 0.0, args.batch_share, args.max_batch)
    if args.duration is None:
        plan = make_plan(args.users, args.max_rolls, dice, args.think_min, args.think_max, args.seed, mix)
        planned, deadline = sum(len(rolls) for rolls in plan), None
        work = list(enumerate(plan))
    else:
        planned, deadline = None, time.monotonic() + args.duration
        work = [(user, endless_rolls(user, dice, args.think_min, args.think_max, args.seed, mix))
                for user in range(args.users)]

    started = time.monotonic()
    threads = [threading.Thread(target=run.user, args=(user, rolls, deadline), daemon=True) for user, rolls in work]
    for thread in threads:
        thread.start()
    interrupted = False
    try:
        watch(run, threads, planned, started)
    except KeyboardInterrupt:
        interrupted = True
        run.stop.set()
        for thread in threads:
            thread.join(timeout=15)
    elapsed = time.monotonic() - started
    if not args.no_trace:
        trace.get_tracer_provider().shutdown()  # sends the last spans

    summary = summarize(run.outcomes, planned, elapsed, args.grafana_url, interrupted,
                        args.trace_view_url or make_run.get("trace_view"))
    print(json.dumps(summary, indent=2) if args.json else render_text(summary, hyperlinks=sys.stdout.isatty()))
    return 130 if interrupted else 0


def watch(run, threads, planned, started):
    """Live progress on a terminal; a plain line every five seconds otherwise."""
    if err.is_terminal:
        columns = [TextColumn("rolling"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                   TimeElapsedColumn()]
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("rolls", total=planned, status="")
            while any(thread.is_alive() for thread in threads):
                done, errors = run.counts()
                rate = done / max(time.monotonic() - started, 1e-6)
                progress.update(task, completed=done, status=f"errors {errors}  {rate:.1f} rolls/s")
                time.sleep(0.2)
            progress.update(task, completed=run.counts()[0])
        return
    last = 0.0
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.2)
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            done, errors = run.counts()
            print(f"{done}/{planned or '∞'} rolls, {errors} error{'' if errors == 1 else 's'}, "
                  f"{done / max(last - started, 1e-6):.1f} rolls/s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
