"""The README and docs/ cannot rot: every relative link resolves, and every `curl` and
`python -m traffic` line they show is run against real services, its status code and the
shape of its answer checked against what the page says. Every SQL line (`sqlite3 var/…` or
`docker compose exec postgres psql …`) is run on its engine: the SQLite ones on the services'
database before the curl lines, the psql ones on a real PostgreSQL.

A curl line says what it gets in its comment: `curl '…'   # 404 {"error": "unknown_die", …}`
(the status, then the answer: its keys, all of them unless it ends with `…`, and the text values
shown in full). The services run on free ports, with the documented timeouts and fault delays
ten times shorter, so that the same answers come ten times sooner."""

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.stack import Stack
from ops.profiling import sampled_range_ms
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND
from runtime import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "dashboards/README.md"]
# The documented timeouts (1.5 s, 2 s, 5 s) and fault delays, shorter here; no more than this,
# for the deadlines keep a fixed 0.3 s between the database's budget and the roller's wait.
TIME_SCALE = 1.6
FENCE = re.compile(r"^\s*```")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
EXPECTED = re.compile(r"#\s*(\d{3})\b\s*(.*)$")
# `python -m traffic` and its options (each `--flag` with or without a value), up to prose.
TRAFFIC_COMMAND = re.compile(r"(?:\.venv/bin/)?python -m traffic((?: --?[\w-]+(?: [^\s`#)-][^\s`#)]*)?)*)")


def fenced_lines(text):
    """The lines of the page's code blocks."""
    inside, found = False, []
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
        elif inside:
            found.append(line.strip())
    return found


def prose(text):
    """The page without its code blocks."""
    inside, kept = False, []
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


# What a learner types to change the die service's database, and the SQL it runs.
SQL_LINE = re.compile(r'^(sqlite3 var/dice\.sqlite3|docker compose exec postgres psql -U dice dice -c) "([^"]+)"')


def sql_examples():
    """[(page name, engine, SQL)] of every SQL line shown in a code block."""
    found = []
    for page in PAGES:
        for line in fenced_lines(page.read_text()):
            match = SQL_LINE.match(line)
            if match:
                engine = "sqlite" if match.group(1).startswith("sqlite3") else "postgresql"
                found.append((page.name, engine, match.group(2)))
    return found


def distinct_sql(engine):
    """Each statement once, in the order the pages show it (two pages may show the same)."""
    return list(dict.fromkeys(sql for _, kind, sql in sql_examples() if kind == engine))


# `python -m labs` and its commands, as the pages show them.
LABS_LINE = re.compile(r"^(?:\.venv/bin/)?python -m labs\b([^#`]*)")


def labs_examples():
    """(page name, the arguments after `python -m labs`) of every labs command in a code block."""
    return [(page.name, shlex.split(match.group(1))) for page in PAGES for line in fenced_lines(page.read_text())
            if (match := LABS_LINE.match(line))]


def curl_examples():
    return [(page.name, line) for page in PAGES for line in fenced_lines(page.read_text())
            if line.startswith("curl ")]


def traffic_examples():
    """(command, the first page that shows it) for each command running the traffic
    generator, in code blocks or inline code."""
    found = {}
    for page in PAGES:
        text = page.read_text()
        for candidate in fenced_lines(text) + re.findall(r"`([^`]+)`", prose(text)):
            command = TRAFFIC_COMMAND.search(candidate)
            if command:
                found.setdefault(command.group(0).strip().removeprefix(".venv/bin/"), page.name)
    return sorted(found.items())


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page):
    return {slug(line.lstrip("#")) for line in prose(page.read_text()).splitlines() if line.startswith("#")}


def test_every_relative_link_resolves_to_a_file_and_a_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page.read_text())):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not ours to check offline
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_curl_line_says_what_it_gets_and_none_hides_in_prose():
    examples = curl_examples()
    assert len(examples) >= 12
    assert [line for _, line in examples if not EXPECTED.search(line)] == []
    assert [page.name for page in PAGES if re.search(r"`curl ", prose(page.read_text()))] == []


def test_no_documented_command_signals_processes_by_pattern():
    """`pkill -f 'diespec.app'` froze another project's die service: make run's own pids only."""
    assert [page.name for page in PAGES if re.search(r"\bpkill\b|\bkillall\b", page.read_text())] == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The services, their SQLite database changed as the pages' sqlite3 lines change it."""
    folder = tmp_path_factory.mktemp("docs")
    database = folder / "dice.sqlite3"
    stack = Stack(
        folder,
        DATABASE_TIMEOUT_SECONDS=1.5 / TIME_SCALE,
        DIE_SERVICE_TIMEOUT_SECONDS=2.0 / TIME_SCALE,
        DICE_ROLLER_TIMEOUT_SECONDS=5.0 / TIME_SCALE,
        DATABASE_URL=f"sqlite:///{database}",
    ).start()
    try:
        with sqlite3.connect(database) as connection:
            for sql in distinct_sql("sqlite"):
                connection.execute(sql)
        yield stack
    finally:
        stack.stop()


def test_every_sql_line_runs_on_postgresql_too(postgres_server):
    """The psql lines on a real PostgreSQL, on a table the die service's seeding made."""
    from diespec.database import create_unpooled_engine
    from diespec.seed import seed
    from diespec.specs import parse_specifications

    examples = sql_examples()
    assert {engine for _, engine, _ in examples} == {"sqlite", "postgresql"}
    url = postgres_server.create_database("docs_sql")
    engine = create_unpooled_engine(url, 2)
    seed(engine, parse_specifications({"fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0}}), "test")
    engine.dispose()
    for sql in distinct_sql("postgresql"):
        postgres_server.psql(sql, database="docs_sql")  # raises, with psql's message, when it fails
    assert postgres_server.psql("SELECT count(*) FROM die_specifications", database="docs_sql") != "1"


def on_stack(command, stack):
    """`command` with the documented local ports replaced by the stack's, fault delays scaled."""
    for service, process in ((DIE_SERVICE, stack.die_service), (DICE_ROLLER, stack.roller), (FRONTEND, stack.frontend)):
        command = re.sub(rf"(localhost|127\.0\.0\.1):{service.local_port}\b", f"127.0.0.1:{process.port}", command)
    return re.sub(r"delay:(\d+)", lambda m: f"delay:{int(int(m.group(1)) / TIME_SCALE)}", command)


def shown_answer(shown):
    """(keys, whether more may follow, text values shown in full) of a documented answer."""
    keys = re.findall(r'"(\w+)":', shown)
    texts = dict(re.findall(r'"(\w+)": "([^"…]*)"', shown))
    return keys, shown.rstrip().endswith("…}"), texts


@pytest.mark.slow
@pytest.mark.parametrize("page, line", curl_examples(), ids=[line[:70] for _, line in curl_examples()])
def test_each_curl_example_answers_as_documented(stack, page, line):
    command, _, comment = line.partition(" # ")
    status, shown = EXPECTED.search("#" + comment).groups()
    run = subprocess.run([*shlex.split(on_stack(command, stack)), "-s", "-w", "\n%{http_code}"],
                         capture_output=True, text=True, timeout=15)
    body, _, got = run.stdout.rpartition("\n")
    assert got == status, f"{page}: {line}\n{run.stdout}"
    keys, open_ended, texts = shown_answer(shown)
    if keys:
        answer = json.loads(body)
        assert set(keys) <= set(answer) if open_ended else set(keys) == set(answer), (page, line, answer)
        assert {key: answer[key] for key in texts} == texts, (page, line, answer)


@pytest.mark.slow
def test_each_traffic_command_runs_as_documented(stack):
    """Run as written, but bounded: at most 5 users of 3 rolls, no thinking, 0.2 s for a duration."""
    examples = traffic_examples()
    assert len(examples) >= 4

    def bounded(command):
        args = shlex.split(command)[3:]  # after `python -m traffic`
        for flag, most in (("--users", 5), ("--max-rolls", 3), ("--duration", 0.2)):
            if flag in args:
                at = args.index(flag) + 1
                args[at] = str(min(float(args[at]), most)).removesuffix(".0")
        for flag in ("--think-min", "--think-max"):
            if flag in args:
                del args[args.index(flag):args.index(flag) + 2]
        return [*args, "--think-min", "0", "--think-max", "0", "--url", stack.frontend.url,
                "--die-service-url", stack.die_service.url]

    def run(example):
        command, page = example
        done = subprocess.run([sys.executable, "-m", "traffic", *bounded(on_stack(command, stack))],
                              cwd=REPO, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "none"})
        return page, command, done

    with ThreadPoolExecutor(max_workers=4) as pool:
        for page, command, done in pool.map(run, examples):
            assert done.returncode == 0 and " rolls" in done.stdout, f"{page}: {command}\n{done.stderr[-2000:]}"


def test_every_labs_command_is_one_the_labs_take():
    """list and show run here, as the pages write them; start, check and stop, which need a running
    sandbox, are parsed by the labs' own command line (tests/test_labs.py runs them for real)."""
    from labs.__main__ import parse_args

    examples = labs_examples()
    assert {arguments[0] if arguments else "list" for _, arguments in examples} >= {"list", "show", "start", "check",
                                                                                    "stop"}
    for page, arguments in examples:
        parse_args(arguments)  # exits (SystemExit) on a command, a lab or an option it does not take
        if not arguments or arguments[0] in ("list", "show"):
            done = subprocess.run([sys.executable, "-m", "labs", *arguments], cwd=REPO, capture_output=True,
                                  text=True, timeout=30)
            assert done.returncode == 0 and done.stdout, (page, arguments, done.stderr)


def test_the_documented_reach_of_a_cpu_figure_is_the_samplers():
    """docs/telemetry.md's range for a `cpu:N` fault is the one the agent's sampling gives
    (ops/profiling.py): the samples of N ms at random moments, 50 a second on average."""
    text = " ".join((REPO / "docs" / "telemetry.md").read_text().split())
    for milliseconds, least, most in re.findall(r"`cpu:(\d+)` between ([\d,]+) and ([\d,]+)", text):
        expected = [round(bound) for bound in sampled_range_ms(int(milliseconds))]
        assert [int(least.replace(",", "")), int(most.replace(",", ""))] == expected, milliseconds
    assert re.search(r"`cpu:300` between 145 and 455 ms", text)


def test_no_file_holds_a_merge_conflicts_markers():
    """A conflict committed unresolved once reached the README's first screen."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    marked = []
    for name in tracked:
        path = REPO / name
        if path.is_file() and not path.is_symlink() and path.suffix not in (".png", ".lock"):
            text = path.read_text(errors="replace")
            if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines()):
                marked.append(name)
    assert marked == []
