"""What the run did: counts by die and status, latency, and the rolls worth a look; batches
of many dice (--batch-share) apart from single rolls, as their latency is another story."""

from collections import Counter
from dataclasses import dataclass

from ops.grafana_links import trace_url
from ops.percentiles import nearest_rank


@dataclass(frozen=True)
class Outcome:
    user: int
    die: str
    status: int | str  # the HTTP status, or "timeout" / "connection_error"
    seconds: float
    trace_id: str | None
    fault: str | None = None  # the baggage's fault entries this roll carried
    times: int = 1  # dice rolled: more than 1 for a batch (/roll-async)


def _latency(outcomes):
    latencies = sorted(o.seconds for o in outcomes)
    return {
        name: None if nearest_rank(latencies, q) is None else round(nearest_rank(latencies, q), 4)
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    }


def _slowest(outcomes, count):
    return sorted(outcomes, key=lambda o: o.seconds, reverse=True)[:count]


def summarize(outcomes, planned, elapsed_seconds, grafana_url, interrupted=False, trace_view_url=None):
    """`rolls` counts every request; the rest is about single rolls, but for `batches` and
    the faults, which count both."""
    batches = [o for o in outcomes if o.times > 1]
    singles = [o for o in outcomes if o.times == 1]
    by_die_status = Counter((o.die, str(o.status)) for o in singles)
    dice = sorted({o.die for o in singles})

    def link(outcome):
        return {
            "die": outcome.die,
            "times": outcome.times,
            "status": outcome.status,
            "seconds": round(outcome.seconds, 4),
            "trace_id": outcome.trace_id,
            "trace_url": trace_url(outcome.trace_id, grafana_url, trace_view_url) if outcome.trace_id else None,
        }

    return {
        "rolls": len(outcomes),
        "single_rolls": len(singles),
        "planned": planned,
        "interrupted": interrupted,
        "elapsed_seconds": round(elapsed_seconds, 3),
        "by_die_and_status": {
            die: {status: count for (d, status), count in sorted(by_die_status.items()) if d == die} for die in dice
        },
        "error_rate_by_die": {
            die: round(
                sum(count for (d, status), count in by_die_status.items() if d == die and status != "200")
                / sum(count for (d, _), count in by_die_status.items() if d == die),
                4,
            )
            for die in dice
        },
        "latency_seconds": _latency(singles),
        "slowest": [link(o) for o in _slowest(singles, 5)],
        "failed": [link(o) for o in singles if o.status != 200],
        "batches": {
            "count": len(batches),
            "dice": sum(o.times for o in batches),
            "by_status": dict(sorted(Counter(str(o.status) for o in batches).items())),
            "latency_seconds": _latency(batches),
            "slowest": [link(o) for o in _slowest(batches, 3)],
            "failed": [link(o) for o in batches if o.status != 200],
        },
        # Rolls by the faults they carried ("none" for the others), and one trace of each.
        "by_fault": dict(sorted(Counter(o.fault or "none" for o in outcomes).items())),
        "fault_traces": {
            fault: link(next(o for o in outcomes if o.fault == fault and o.trace_id))
            for fault in sorted({o.fault for o in outcomes if o.fault and o.trace_id})
        },
    }


def terminal_link(url, text):
    """`text` that opens `url` when clicked, in terminals that know OSC 8 hyperlinks."""
    return f"\x1b]8;;{url}\x1b\\{text}\x1b]8;;\x1b\\"


def render_text(summary, hyperlinks=False):
    """The summary for people. On a terminal each trace id is a link to its trace;
    elsewhere (a file, a pipe) the trace id and then the full URL."""

    def trace_cell(row):
        if not row["trace_url"]:
            return "no trace id"
        if hyperlinks:
            return terminal_link(row["trace_url"], f"trace {row['trace_id']}")
        return f"trace {row['trace_id']}  {row['trace_url']}"

    def latency_line(latency):
        return "  ".join(f"{name} {value * 1000:.0f} ms" for name, value in latency.items())

    batches = summary["batches"]
    planned = f" of {summary['planned']} planned" if summary["planned"] else " (continuous run)"
    lines = [
        f"{summary['rolls']} rolls{planned} in {summary['elapsed_seconds']} s"
        + (f", {batches['count']} of them batches of many dice" if batches["count"] else "")
        + (" (interrupted)" if summary["interrupted"] else ""),
        "",
        *(["single rolls:"] if batches["count"] else []),
        "die          status counts                      error rate",
    ]
    for die, statuses in summary["by_die_and_status"].items():
        counts = ", ".join(f"{status}: {count}" for status, count in statuses.items())
        lines.append(f"{die:<12} {counts:<36} {summary['error_rate_by_die'][die]:.1%}")
    if summary["latency_seconds"]["max"] is not None:
        lines += ["", "latency  " + latency_line(summary["latency_seconds"])]
    if batches["count"]:
        statuses = ", ".join(f"{status}: {count}" for status, count in batches["by_status"].items())
        lines += [
            "",
            f"batches: {batches['count']} ({batches['dice']} dice), {len(batches['failed'])} failed ({statuses})",
            "latency  " + latency_line(batches["latency_seconds"]),
        ]
    if summary["fault_traces"] or len(summary["by_fault"]) > 1:
        lines += ["", "rolls by injected fault:"]
        lines += [f"  {fault:<40} {count}" for fault, count in summary["by_fault"].items()]
        lines += [f"  a trace of {fault}: {trace_cell(row)}" for fault, row in summary["fault_traces"].items()]
    for title, rows in (
        ("slowest rolls", summary["slowest"]),
        ("failed rolls", summary["failed"]),
        ("slowest batches", batches["slowest"]),
        ("failed batches", batches["failed"]),
    ):
        if rows:
            lines += ["", f"{title}:"]
            lines += [
                f"  {_dice(row):<13} {row['status']!s:<16} {row['seconds'] * 1000:7.0f} ms  {trace_cell(row)}"
                for row in rows
            ]
    return "\n".join(lines)


def _dice(row):
    return row["die"] if row["times"] == 1 else f"{row['times']} × {row['die']}"
