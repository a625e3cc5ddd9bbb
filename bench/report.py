"""The benchmark's figures as a table, and how they compare with the targets of issue 9."""

from bench.profile import LAYER_NAMES

COLUMNS = [
    ("scenario", "title", "{}"),
    ("clients", "clients", "{}"),
    ("rolls/s", "rolls_per_second", "{:.1f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p95 ms", "p95_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("max ms", "max_ms", "{:.1f}"),
    ("errors", "errors", "{}"),
    ("spans lost/expected", None, "{}"),
    ("query p50 ms", ("query_span_ms", "p50"), "{:.2f}"),
    ("die service p50 ms", ("die_service_span_ms", "p50"), "{:.2f}"),
]
RSS_LIMIT_MB = 120
ALL_SERVICES = "all three"  # the layer table's row of a roll's whole price


def targets(scenarios, batches=None):
    """[{target, value, met}] for the scenarios that ran (`batches`: bench.batches' figures)."""
    found = []

    def add(target, value, met):
        found.append({"target": target, "value": value, "met": bool(met)})

    delay = scenarios.get("delay")
    if delay:
        share = delay["rolls_per_second"] / delay["ideal_rolls_per_second"]
        add("1. achieved / ideal >= 0.95", round(share, 3), share >= 0.95)
        add("1. p99 <= 1200 ms", delay["p99_ms"], delay["p99_ms"] is not None and delay["p99_ms"] <= 1200)
        add("1. no errors", delay["errors"], delay["errors"] == 0)
    traced, untraced = scenarios.get("zero_delay"), scenarios.get("zero_delay_untraced")
    if traced:
        add("2. >= 250 rolls/s, telemetry on", traced["rolls_per_second"], traced["rolls_per_second"] >= 250)
    if traced and untraced and untraced["rolls_per_second"]:
        ratio = traced["rolls_per_second"] / untraced["rolls_per_second"]
        add("2. telemetry on / off >= 0.75", round(ratio, 3), ratio >= 0.75)
    lost = sum(figures["spans_lost"] for figures in scenarios.values() if "spans_lost" in figures)
    add("3. no span lost", lost, lost == 0)
    peaks = {}
    for figures in scenarios.values():
        for service, memory in figures["peak_rss_mb"].items():
            peaks[service] = max(peaks.get(service, 0), *(mb for mb in memory.values() if mb is not None))
    for service, peak in peaks.items():
        add(f"4. {service} <= {RSS_LIMIT_MB} MB RSS (largest process)", peak, peak <= RSS_LIMIT_MB)
    for name, number, least, p99_ms in (("crowd_50", 6, 0.90, 1300), ("crowd_100", 7, 0.85, 1500)):
        crowd = scenarios.get(name)
        if crowd:
            share = crowd["rolls_per_second"] / crowd["ideal_rolls_per_second"]
            add(f"{number}. achieved / ideal >= {least}", round(share, 3), share >= least)
            p99 = crowd["p99_ms"]
            add(f"{number}. p99 <= {p99_ms} ms", p99, p99 is not None and p99 <= p99_ms)
            add(f"{number}. no errors", crowd["errors"], crowd["errors"] == 0)
    scale_out = scenarios.get("scale_out")
    if traced and scale_out and traced["rolls_per_second"]:
        add("5. 2 workers / 1 worker (reported, no target)",
            round(scale_out["rolls_per_second"] / traced["rolls_per_second"], 3), True)
    floor = scenarios.get("floor")
    # What observability costs (docs/performance.md): each stack as a share of the bare chain on
    # the same database (issue 22: 0.80 without tracing; issue 27: 0.50 with everything and the query).
    for floor_name, name, least in (("floor", "zero_delay_untraced", 0.80), ("floor", "zero_delay", 0.50),
                                    ("floor_postgres", "zero_delay_postgres", 0.50)):
        floor = scenarios.get(floor_name)
        if floor and floor["rolls_per_second"] and name in scenarios:
            share = scenarios[name]["rolls_per_second"] / floor["rolls_per_second"]
            add(f"9. {scenarios[name]['title']} / {floor['title']} >= {least}", round(share, 3), share >= least)
    # What the query adds to a roll: its span's p50 (issue 27).
    for name, most in (("zero_delay", 2.0), ("zero_delay_postgres", 3.0)):
        query = scenarios.get(name, {}).get("query_span_ms", {}).get("p50")
        if query is not None:
            add(f"10. the query's p50 <= {most:g} ms ({scenarios[name]['title']})", query, query <= most)
    # What the fourth signal costs (issue 32): CPU per roll is the steady measure on a busy machine.
    profiled = scenarios.get("zero_delay_profiled")
    if traced and profiled:
        ratio = sum(profiled["cpu_ms_per_roll"].values()) / sum(traced["cpu_ms_per_roll"].values())
        add("11. CPU per roll, profiles on / off <= 1.05", round(ratio, 3), ratio <= 1.05)
    if batches:
        add("8. batch of 10 / 10 rolls in a row: speed-up >= 5", batches["speed_up"], batches["speed_up"] >= 5)
        ratio = batches["batch_over_slowest_roll"]
        add("8. batch latency / its slowest roll <= 1.15 (mean)", ratio, ratio <= 1.15)
    return found


def render_table(report):
    lines = []
    if report["scenarios"]:  # --only batches runs none
        rows = [[heading for heading, _, _ in COLUMNS]]
        for figures in report["scenarios"].values():
            row = []
            for _, key, form in COLUMNS:
                if key is None:
                    value = f"{figures['spans_lost']}/{figures['spans_expected']}" if "spans_lost" in figures else "-"
                elif isinstance(key, tuple):  # a figure within a figure: query_span_ms' p50
                    found = figures.get(key[0], {}).get(key[1])
                    value = "-" if found is None else form.format(found)
                else:
                    value = "-" if figures.get(key) is None else form.format(figures[key])
                row.append(value)
            rows.append(row)
        lines = _align(rows)

        lines += ["", "CPU per roll, ms:"]
        for figures in report["scenarios"].values():
            cpu = ", ".join(f"{service} {ms}" for service, ms in figures["cpu_ms_per_roll"].items())
            lines.append(f"  {figures['title']}: {cpu}, total {round(sum(figures['cpu_ms_per_roll'].values()), 2)}")

        lines += ["", "peak RSS, MB (master / largest worker):"]
        for figures in report["scenarios"].values():
            memory = ", ".join(
                f"{service} {m['master']} / {m['worker']}" for service, m in figures["peak_rss_mb"].items())
            lines.append(f"  {figures['title']}: {memory}")

    layers = report.get("layers")
    if layers:
        lines += ["", "CPU ms per roll by layer (py-spy's samples of each worker, times its CPU per roll):"]
        rows = [["scenario", "service", *LAYER_NAMES, "total"]]
        for figures in layers.values():
            services = {service: by_layer for service, by_layer in figures.items() if service != "title"}
            # A roll's price is what the three services spend on it together.
            services[ALL_SERVICES] = {layer: sum(by_layer.get(layer, 0) for by_layer in services.values())
                                      for layer in LAYER_NAMES}
            for service, by_layer in services.items():
                cells = [f"{by_layer.get(layer, 0):.3f}" for layer in LAYER_NAMES]
                rows.append([figures["title"], service, *cells, f"{sum(by_layer.values()):.3f}"])
        lines += _align(rows, indent="  ")

    batches = report.get("batches")
    if batches:
        delay = f"rolls of 0..{batches['max_delay_seconds']:g} s"
        lines += ["", f"{batches['title']}, {batches['repeats']} rounds, {delay}:",
                  "  10 in a row, ms: " + _figures(batches["sequence_ms"]),
                  "  one batch, ms:   " + _figures(batches["batch_ms"]),
                  f"  speed-up {batches['speed_up']}x; a batch lasts {batches['batch_over_slowest_roll']} x its slowest"
                  f" roll's span on average ({batches['batch_over_slowest_roll_max']} at most)"]

    lines += ["", "targets:"]
    lines += _align([[t["target"], str(t["value"]), "met" if t["met"] else "MISSED"] for t in report["targets"]],
                    indent="  ")
    settings, machine = report["settings"], report["machine"]
    lines += ["", f"{settings['clients']} clients, {settings['seconds']:g} s per scenario, "
              + f"{machine['cpus']} CPUs, Python {machine['python']}"
              + (" (--short: rolls wait 0..0.05 s; nothing here is a measurement)" if settings.get("short") else "")]
    return "\n".join(lines)


def _figures(milliseconds):
    return ", ".join(f"{name} {value}" for name, value in milliseconds.items())


def _align(rows, indent=""):
    if not rows:  # a table with nothing to show, such as no targets
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
