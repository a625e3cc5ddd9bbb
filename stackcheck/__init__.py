"""`make stack-check`: the compose stack, started and checked through each component's HTTP API."""
