"""Secure defaults of the frontend, as gunicorn starts it."""

import json
import subprocess
import sys

import pytest
import requests

from harness.stack import ServiceProcess, Stack
from runtime import REPO

pytestmark = pytest.mark.slow


def test_frontend_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**Stack.BASE_ENV, "DJANGO_SECRET_KEY": "", "DJANGO_DEBUG": "false"}
    frontend = ServiceProcess("frontend_site.wsgi:application", env, tmp_path, "frontend")
    frontend.start(wait=False)
    try:
        exit_code = frontend.process.wait(timeout=30)
    finally:
        frontend.stop()
    assert exit_code == 4  # gunicorn stops instead of booting workers forever
    records = [json.loads(line) for line in frontend.log_lines()]  # JSON lines only
    critical = [record for record in records if record["level"] == "CRITICAL"]
    assert len(critical) == 1 and critical[0]["variable"] == "DJANGO_SECRET_KEY"
    assert "DJANGO_DEBUG=true" in critical[0]["message"]
    assert not [record for record in records if "Booting worker" in record["message"]]  # refused by the master


def test_debug_is_off_unless_asked():
    def debug(**env):
        script = "from frontend_site import settings; print(settings.DEBUG)"
        environment = {"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "k", **env}
        return subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert debug() == "False"
    assert debug(DJANGO_DEBUG="true") == "True"


def test_unknown_host_is_a_json_400_and_compose_names_are_allowed(shared_stack):
    stack = shared_stack
    response = requests.get(stack.frontend.url + "/healthz", headers={"Host": "evil.example"}, timeout=5)
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    for host in ("localhost", "127.0.0.1", "frontend", "frontend-stage3"):
        response = requests.get(stack.frontend.url + "/healthz", headers={"Host": f"{host}:8000"}, timeout=5)
        assert response.status_code == 200, host
    assert json.loads(stack.frontend.get("/nope").text)["error"] == "not_found"
