"""python -m bench: throughput, tail latency and the cost of telemetry, side by side.

    python -m bench                 # 30 s per scenario, 10 clients, the profile pass, 20 rounds of
                                    # batches (about nine minutes)
    python -m bench --short         # 0.3 s per scenario, rolls of 0..0.05 s, 2 rounds of batches,
                                    # alike stacks shared: proves it runs, judges nothing
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from bench import profile
from bench.batches import run_batch_comparison
from bench.report import render_table, targets
from bench.scenarios import SCENARIOS, SHORT_MAX_DELAY_SECONDS, SIDE_BY_SIDE, run_scenario, run_side_by_side
from harness.postgres import PostgresServer
from runtime.backends.otlp import OtlpReceiver
from runtime.backends.profiles import ProfileStore
from runtime.backends.pyroscope import PyroscopeApi


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="per scenario (default %(default)s)")
    parser.add_argument("--turns", type=int, default=6,
                        help="the floor and the stack with and without tracing run side by side, the load "
                             "going to each in turn: how many turns the seconds are cut into (default %(default)s)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per scenario (default %(default)s)")
    parser.add_argument("--short", action="store_true",
                        help=f"0.3 s per scenario, rolls of 0..{SHORT_MAX_DELAY_SECONDS:g} s: proves it runs")
    parser.add_argument("--rounds", type=int, default=20,
                        help="rounds of 10 single rolls vs one batch of 10 (default %(default)s)")
    parser.add_argument("--only", choices=[scenario.name for scenario in SCENARIOS] + [BATCHES], action="append",
                        help="run only this scenario (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profile pass (py-spy) that splits each roll's CPU into layers")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds, args.rounds, args.turns = 0.3, 2, 2
    if args.seconds <= 0 or args.clients < 1 or args.max_requests < 1 or args.rounds < 1 or args.turns < 1:
        parser.error("need --seconds > 0, --clients >= 1, --max-requests >= 1, --rounds >= 1 and --turns >= 1")
    return args


BATCHES = "batches"


def main(argv=None):
    args = parse_args(argv)
    chosen = [scenario for scenario in SCENARIOS if not args.only or scenario.name in args.only]
    receiver = OtlpReceiver()
    profiles = PyroscopeApi(ProfileStore(), port=0)
    logs = Path(tempfile.mkdtemp(prefix="dice-bench-"))
    print(f"{len(chosen)} scenarios, {args.seconds:g} s each, {args.clients} clients; "
          f"service logs in {logs}", file=sys.stderr)
    # A throw-away PostgreSQL on loopback for the scenarios that use one, removed at the end.
    postgres = PostgresServer() if any(scenario.database == "postgresql" for scenario in chosen) else None
    try:
        if postgres:
            postgres.start()
        scenarios = {}
        compared = [scenario for scenario in chosen if scenario.name in SIDE_BY_SIDE]
        if compared:
            print("  " + ", ".join(scenario.title for scenario in compared)
                  + f", side by side in {args.turns} turns ...", file=sys.stderr)
            scenarios.update(run_side_by_side(compared, receiver, logs, args.clients, args.seconds,
                                              args.max_requests, turns=args.turns, short=args.short,
                                              postgres=postgres, profiles=profiles))
        alone = [scenario for scenario in chosen if scenario not in compared]
        if args.short and alone:
            # Proving that each runs, one after another, those whose stacks are alike on one stack
            # (delay, crowd_50 and crowd_100 differ only in their clients).
            print("  " + ", ".join(scenario.title for scenario in alone) + " ...", file=sys.stderr)
            scenarios.update(run_side_by_side(alone, receiver, logs, args.clients, args.seconds, args.max_requests,
                                              short=True, postgres=postgres, profiles=profiles, share_stacks=True))
        elif alone:
            for scenario in alone:
                print(f"  {scenario.title} ...", file=sys.stderr)
                scenarios[scenario.name] = run_scenario(
                    scenario, receiver, logs / scenario.name, args.clients, args.seconds, args.max_requests,
                    postgres=postgres, profiles=profiles,
                )
        scenarios = {scenario.name: scenarios[scenario.name] for scenario in chosen}  # in the table's order
        layers = {}
        if compared and not (args.short or args.no_profile) and profile.available():
            # After the measured runs, so that the sampling (on these same cores) skews none of them.
            print("  the same again, profiled ...", file=sys.stderr)
            profiled = run_side_by_side(compared, receiver, logs / "profile", args.clients, args.seconds,
                                        args.max_requests, turns=args.turns, profile_dir=logs / "profile",
                                        postgres=postgres, profiles=profiles)
            layers = {name: {"title": figures["title"], **figures["cpu_ms_per_roll_by_layer"]}
                      for name, figures in profiled.items()}
        batches = None
        if not args.only or BATCHES in args.only:
            print(f"  8. {args.rounds} rounds of 10 single rolls vs one batch of 10 ...", file=sys.stderr)
            delay = SHORT_MAX_DELAY_SECONDS if args.short else 1.0
            batches = run_batch_comparison(receiver, logs / BATCHES, args.rounds, delay)
    finally:
        receiver.close()
        profiles.close()
        if postgres:
            postgres.stop()

    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "settings": {"clients": args.clients, "seconds": args.seconds, "max_requests": args.max_requests,
                     "turns": args.turns, "short": args.short},
        "scenarios": scenarios,
        "batches": batches,
        "layers": layers,
        "targets": targets(scenarios, batches),
    }
    print(render_table(report))
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
