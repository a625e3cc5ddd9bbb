import pytest

from runtime.processes import Stack


@pytest.fixture
def start_stack(tmp_path):
    """start_stack(**env) starts the three services; all are stopped after the test."""
    stacks = []

    def start(**env):
        stacks.append(Stack(tmp_path, **env).start())
        return stacks[-1]

    yield start
    for stack in stacks:
        stack.stop()
