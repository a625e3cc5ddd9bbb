import pytest

from harness.stack import SharedStacks, Stack


@pytest.fixture(scope="session")
def shared_stacks(tmp_path_factory):
    """The run's shared stacks (harness/stack.py SharedStacks), one for each set of settings the
    tests ask for, stopped at the end: for the tests that only read from a stack."""
    stacks = SharedStacks(tmp_path_factory.mktemp("shared-stacks"))
    yield stacks
    stacks.stop()


@pytest.fixture
def shared_stack(shared_stacks):
    """The shared stack with the default test settings."""
    return shared_stacks.get()


@pytest.fixture
def shared_slow_stack(shared_stacks):
    """The shared stack whose rolls wait 0..1 s, on two workers a service: slow rolls overlap."""
    return shared_stacks.get(ROLL_MAX_DELAY_SECONDS=1, WEB_CONCURRENCY=2)


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
