"""python -m labs: exercises that set up a situation, ask a question, and check the answer
against the telemetry (docs/labs.md).

    python -m labs                          the labs and their state (new, started, solved)
    python -m labs show NAME                the goal, what to do, where to look, the answer's form
    python -m labs start NAME               sets the situation up (stops another lab first)
    python -m labs check NAME --OPTION V    0: right; 1: wrong, with a hint; 2: cannot check yet
    python -m labs stop NAME                undoes what start did (safe to run twice)

A command line it cannot read exits 64 (sysexits' EX_USAGE), never 2, which means "not yet".

With `make run` the labs read its traces, metrics and logs (var/run.json says where); under
docker compose, Tempo, Prometheus and Loki on localhost.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from textwrap import indent

from labs.catalog import LABS
from labs.lab import CANNOT_CHECK, COMMAND, RIGHT, USAGE, WRONG, SetUpFailed
from labs.sandbox import Sandbox, Unreachable, stop_process
from runtime.launcher.run_file import STATE_DIR


class Progress:
    """var/labs/state.json: the lab started now and its situation, and the labs solved."""

    def __init__(self, state_dir):
        self.folder = Path(state_dir) / "labs"
        self.path = self.folder / "state.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"active": None, "solved": []}

    def save(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2))

    def state_of(self, name):
        active = self.data["active"]
        if active and active["name"] == name:
            return "started"
        return "solved" if name in self.data["solved"] else "new"


class ArgumentParser(argparse.ArgumentParser):
    """argparse's, but a command line it cannot read exits USAGE: its own 2 is the labs' "not yet"."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def parse_args(argv):
    parser = ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="make run's state folder (default var/)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="the labs and their state")
    for command in ("show", "start", "stop"):
        commands.add_parser(command).add_argument("name", choices=LABS)
    check = commands.add_parser("check")
    names = check.add_subparsers(dest="name", required=True)
    for lab in LABS.values():
        options = names.add_parser(lab.name, help=lab.title)
        for option in lab.options:
            options.add_argument(option.flag, type=option.kind, metavar=option.metavar, help=option.help,
                                 required=option.required, choices=option.choices or None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    progress = Progress(args.state_dir)
    command = {"show": show, "start": start, "stop": stop, "check": check}.get(args.command, list_labs)
    try:
        return command(args, progress)
    except Unreachable as problem:
        doing = f"start {args.name}" if args.command == "start" else f"{args.command} now"
        print(f"Cannot {doing}: {problem}.", file=sys.stderr)
        return CANNOT_CHECK
    except SetUpFailed as problem:
        print(f"Cannot start {args.name}: {problem}.", file=sys.stderr)
        return CANNOT_CHECK


def list_labs(args, progress):
    for lab in LABS.values():
        print(f"{lab.name:<18} {progress.state_of(lab.name):<8} {lab.title}")
    print(f"\n{COMMAND} show NAME tells what to do; {COMMAND} start NAME begins.")
    return 0


def show(args, progress):
    lab = LABS[args.name]
    active = progress.data["active"]
    situation = active["situation"] if active and active["name"] == lab.name else {}
    print(f"{lab.title} ({lab.name}, {progress.state_of(lab.name)})\n")
    for heading, text in (("Goal", lab.goal), ("What to do", lab.todo)):
        print(f"{heading}:\n  {text}\n")
    try:
        print(f"Where to look:\n{indent(lab.where(Sandbox.find(args.state_dir), situation), '  ')}\n")
    except Unreachable:  # none runs yet: where it will be, either way
        print("Where to look (no sandbox runs now):\n  With make run, on its default ports:\n"
              f"{indent(lab.where(Sandbox.expected(args.state_dir), situation), '    ')}\n"
              f"  With docker compose:\n{indent(lab.where(Sandbox.of_compose(), situation), '    ')}\n")
    print(f"Your answer:\n  {lab.usage()}\n  {lab.answer}\n")
    if situation and lab.briefing(situation):
        print(lab.briefing(situation))
    return 0


def start(args, progress):
    lab = LABS[args.name]
    if progress.data["active"]:
        stop(argparse.Namespace(name=progress.data["active"]["name"], state_dir=args.state_dir), progress)
    sandbox = Sandbox.find(args.state_dir)
    progress.folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    situation = {"started": started, **lab.start(sandbox, random.Random(), progress.folder / "traffic.log")}
    progress.data["active"] = {"name": lab.name, "situation": situation, "started_at": started,
                               "sandbox": sandbox.kind}
    progress.save()
    print(f"Started {lab.name} ({sandbox.kind}): {lab.goal}\n")
    if lab.briefing(situation):
        print(lab.briefing(situation) + "\n")
    print(f"Where to look:\n{indent(lab.where(sandbox, situation), '  ')}\n\nAnswer with: {lab.usage()}\n"
          f"Stop with:   {COMMAND} stop {lab.name}")
    return 0


def stop(args, progress):
    """Undoes what start did: the background traffic ends, a frozen service resumes, the dice the
    lab added go. Safe to run twice, and for a lab that is not running."""
    active = progress.data["active"]
    if not active or active["name"] != args.name:
        print(f"{args.name} is not running: nothing to stop.")
        return 0
    situation = active["situation"]
    stop_process(situation.get("traffic_pid"))
    if situation.get("frozen") or situation.get("inserted"):
        try:
            sandbox = Sandbox.find(args.state_dir)
        except Unreachable:  # stopped meanwhile: nothing is frozen any more
            sandbox = None
            print("The sandbox is not running: nothing to resume"
                  + (f"; the dice {', '.join(situation['inserted'])} stay in its database" if situation.get("inserted")
                     else "") + ".")
        for service in situation.get("frozen", []) if sandbox else ():
            sandbox.resume(service)
        for die in situation.get("inserted", []) if sandbox else ():  # only the rows this lab added
            sandbox.run_sql("DELETE FROM die_specifications WHERE identifier = :die", {"die": die})
    progress.data["active"] = None
    progress.save()
    print(f"Stopped {args.name}: its traffic ended" + (", the die service resumed" if situation.get("frozen") else "")
          + (", its dice removed" if situation.get("inserted") else "") + ".")
    return 0


def check(args, progress):
    lab = LABS[args.name]
    active = progress.data["active"]
    if not active or active["name"] != lab.name:
        print(f"{lab.name} is not started: {COMMAND} start {lab.name}", file=sys.stderr)
        return CANNOT_CHECK
    verdict = lab.refusal(args) or lab.check(Sandbox.find(args.state_dir), active["situation"], args)
    if verdict.code == RIGHT:
        print(f"{verdict.text}\n\nWhy it matters: {lab.explanation}")
        if lab.name not in progress.data["solved"]:
            progress.data["solved"].append(lab.name)
            progress.save()
        print(f"\nStop the lab with: {COMMAND} stop {lab.name}")
    elif verdict.code == WRONG:
        print(f"Wrong: {verdict.text}")
    else:
        print(verdict.text, file=sys.stderr)
    return verdict.code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `python -m labs show NAME | head`: the reader has had enough, nothing failed
        # Python's own advice: point stdout at nothing, so that its flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
