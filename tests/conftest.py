import pytest

from harness.stack import Stack


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """One stack with the default test settings for the modules that only read from it
    (they never stop, freeze or reconfigure a service, and count only what they send)."""
    stack = Stack(tmp_path_factory.mktemp("shared-stack")).start()
    yield stack
    stack.stop()


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
