"""The traffic generator: simulated users rolling dice through the frontend."""
