"""The die service: serves die specifications loaded from a JSON file."""
