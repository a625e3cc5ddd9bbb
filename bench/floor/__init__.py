"""The floor of the benchmark: the same three hops on the same frameworks, server and HTTP
session, with nothing else: no metrics, no logs, no tracing, no middleware of ours. What the
full stack costs is measured against it (docs/performance.md, "What observability costs")."""

from harness.stack import Stack
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND


class FloorStack(Stack):
    """The bare chain, started as the services are (harness.stack.Stack)."""

    CONFIG = "bench/floor/gunicorn.conf.py"
    ENTRY_POINTS = {
        DIE_SERVICE: "bench.floor.diespec:create_app()",
        DICE_ROLLER: "bench.floor.roller:create_app()",
        FRONTEND: "bench.floor.frontend:application",
    }
    FRONTEND_READY = "/healthz"  # the floor's frontend keeps no die list
