"""The profile's layers: each py-spy sample put down to the layer that spent it."""

from bench.profile import layer_of, layer_shares, shares

SITE = "/venv/lib/python3.11/site-packages"
STD = "/usr/lib/python3.11"
WORKER = f"_bootstrap ({STD}/threading.py:1002);run ({SITE}/gunicorn/workers/gthread.py:553)"


def stack(*frames):
    return ";".join([WORKER, *frames])


def test_the_innermost_frame_of_a_library_or_of_ours_names_the_layer():
    json_dumps = f"dumps ({STD}/json/__init__.py:231)"
    assert layer_of(stack(f"format ({SITE}/pythonjsonlogger/core.py:1)", json_dumps)) == "logging"
    assert layer_of(stack("on_get (/repo/roller/resources.py:70)", f"inc ({SITE}/prometheus_client/metrics.py:1)")) \
        == "metrics"
    assert layer_of(stack(f"__call__ ({SITE}/opentelemetry/instrumentation/falcon/__init__.py:385)",
                          f"__call__ ({SITE}/falcon/app.py:497)")) == "framework"
    assert layer_of(stack(f"__call__ ({SITE}/falcon/app.py:497)",
                          f"start_span ({SITE}/opentelemetry/sdk/trace/__init__.py:1)",
                          f"time_ns ({STD}/time.py:1)")) == "tracing"
    assert layer_of(stack("process_view (/repo/frontend_site/middleware.py:40)")) == "our middleware"
    assert layer_of(stack("roll (/repo/roller/dice.py:30)")) == "app"
    # the query: SQLAlchemy, the driver below it (sqlite3's C code shows as its caller), our data layer
    assert layer_of(stack("get (/repo/diespec/store.py:40)", f"execute ({SITE}/sqlalchemy/engine/base.py:1)",
                          f"execute ({STD}/sqlite3/dbapi2.py:1)")) == "database"
    assert layer_of(stack("on_get (/repo/diespec/resources.py:40)", "get (/repo/diespec/store.py:40)")) == "database"
    assert layer_of(stack("specification (/repo/bench/floor/database.py:30)")) == "database"
    query_span = f"_before_cur_exec ({SITE}/opentelemetry/instrumentation/sqlalchemy/engine.py:1)"
    assert layer_of(stack(f"execute ({SITE}/sqlalchemy/engine/base.py:1)", query_span)) == "tracing"
    # logging is the standard library's, and a layer all the same: its handlers write every line
    assert layer_of(stack("roll (/repo/roller/dice.py:30)", f"info ({STD}/logging/__init__.py:1)",
                          f"write ({STD}/codecs.py:1)")) == "logging"


def test_the_exporting_thread_is_tracing_even_in_urllib3():
    export = (f"_bootstrap ({STD}/threading.py:1002);worker ({SITE}/opentelemetry/sdk/_shared_internal/__init__.py:1);"
              f"urlopen ({SITE}/urllib3/connectionpool.py:1)")
    assert layer_of(export) == "tracing"


def test_a_thread_waiting_for_work_is_no_layer_and_shares_add_up(tmp_path):
    idle = f"_bootstrap ({STD}/threading.py:1002);_worker ({STD}/concurrent/futures/thread.py:81)"
    assert layer_of(idle) is None
    samples = tmp_path / "roller.1.txt"
    samples.write_text(f"{idle} 50\n{stack('roll (/repo/roller/dice.py:30)')} 30\n{stack()} 10\n")
    found = shares([samples])
    assert found["app"] == 0.75 and found["framework"] == 0.25 and abs(sum(found.values()) - 1) < 1e-9


def test_every_turn_and_worker_of_a_service_counts_and_no_other_service(tmp_path):
    # profile.start writes <service>.<turn>.<worker pid>.txt: two turns, two workers, and a neighbour
    (tmp_path / "roller.0.11.txt").write_text(f"{stack('roll (/repo/roller/dice.py:30)')} 30\n")
    (tmp_path / "roller.0.12.txt").write_text(f"{stack('roll (/repo/roller/dice.py:30)')} 30\n")
    (tmp_path / "roller.1.11.txt").write_text(f"{stack()} 40\n")
    (tmp_path / "roller-other.0.13.txt").write_text(f"{stack()} 1000\n")
    found = layer_shares(tmp_path / "roller")
    assert (found["app"], found["framework"]) == (0.6, 0.4)
