"""The deployment files agree with the code: variables, processes, image and stack."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from settings import production_problems

VARIABLE_LINE = re.compile(r"^#?([A-Z][A-Z0-9_]*)=")
# The files whose environment reads make up the configuration.
CONFIGURATION_FILES = ("settings.py", "gunicorn.conf.py")


def variables_read(path) -> set[str]:
    """Names passed to env.get / os.environ.get, or beside `env` to the settings helpers."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        reads_env = (isinstance(func, ast.Attribute) and func.attr == "get") and (
            ast.unparse(func.value) in ("env", "os.environ")
        )
        if reads_env or any(isinstance(arg, ast.Name) and arg.id == "env" for arg in node.args):
            names |= {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and re.fullmatch(r"[A-Z][A-Z0-9_]+", str(arg.value))
            }
    return names


def configuration() -> set[str]:
    return set().union(*(variables_read(ROOT / name) for name in CONFIGURATION_FILES))


def env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def required_in_production() -> set[str]:
    return {problem.split()[0] for problem in production_problems({})}


def test_the_scan_finds_the_settings_it_must():
    found = configuration()
    assert {"DATABASE_URL", "SECRET_KEY", "PORT", "RATE_LIMIT_IP", "MESSAGES_OPEN_AT"} <= found
    assert {"WEB_CONCURRENCY", "GUNICORN_THREADS", "FORWARDED_ALLOW_IPS"} <= found
    assert required_in_production() <= found


def test_env_example_lists_every_variable_and_no_other():
    listed = [m.group(1) for line in env_example() if (m := VARIABLE_LINE.match(line))]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) == configuration()


def test_each_variable_in_env_example_says_what_it_is():
    lines = env_example()
    for index, line in enumerate(lines):
        if not VARIABLE_LINE.match(line):
            continue
        above = lines[index - 1]
        # Its own comment, or that of the variable above it in the same group.
        assert above.startswith("# ") or VARIABLE_LINE.match(above), line


def test_every_process_is_a_procfile_line():
    assert set(procfile()) == {"web", "worker", "beat", "release"}
    assert procfile()["release"] == "python -m api.cli migrate"


def test_app_json_runs_every_process_with_its_settings():
    app = json.loads((ROOT / "app.json").read_text())
    # The release process is not a dyno formation: Heroku runs it before each release.
    assert set(app["formation"]) == set(procfile()) - {"release"}
    assert app["formation"]["beat"]["quantity"] == 1
    addons = {addon["plan"].split(":")[0]: addon.get("as") for addon in app["addons"]}
    assert addons == {"heroku-postgresql": "DATABASE", "heroku-redis": "REDIS"}
    given = {f"{name}_URL" for name in addons.values()}  # what an add-on attachment sets
    env = app["env"]
    for name in required_in_production() - given:
        assert name in env, name
        assert env[name].get("required") or env[name].get("value") or env[name].get("generator")
    assert env["SECRET_KEY"]["generator"] == "secret"
    assert env["APP_ENV"]["value"] == "production"
    assert all(setting["description"] for setting in env.values())
    assert set(env) <= configuration(), "app.json sets a variable nothing reads"


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in instructions
        if line and not line.startswith("#")
    ]


def test_the_image_runs_the_procfile_as_a_user_without_privileges():
    steps = dockerfile()
    kinds = [kind for kind, _ in steps]
    assert steps[0] == ("FROM", f"python:{(ROOT / '.python-version').read_text().strip()}-slim")
    user_at = len(kinds) - 1 - kinds[::-1].index("USER")
    assert steps[user_at][1] not in ("root", "0")
    assert "RUN" not in kinds[user_at:], "a step after USER would run as that user"
    installs = [arg for kind, arg in steps if kind == "RUN" and "pip install" in arg]
    assert installs == ["pip install -r requirements.txt"]
    assert dict(steps)["ENTRYPOINT"] == '["bin/procfile"]'


def run_procfile(*args: str, **env: str) -> subprocess.CompletedProcess:
    path = f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
    return subprocess.run(
        ["bin/procfile", *args],
        cwd=ROOT,
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_image_entrypoint_runs_the_procfile_line(tmp_path):
    done = run_procfile("release", VAR_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("applied 0001_baseline")  # what `migrate` prints first
    assert (tmp_path / "app.sqlite3").exists()


@pytest.mark.parametrize("process", ["shell", "web;sh", ""])
def test_the_image_entrypoint_runs_nothing_else(tmp_path, process):
    done = run_procfile(process, VAR_DIR=str(tmp_path))
    assert done.returncode == 64
    assert "procfile" in done.stderr


def test_compose_runs_the_procfile_processes_with_their_services():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == set(procfile()) | {"postgres", "redis"}
    for process in procfile():
        assert services[process]["command"] == process
        assert services[process]["build"] == "."
        assert required_in_production() <= set(services[process]["environment"])
    for process in set(procfile()) - {"release"}:
        waits = services[process]["depends_on"]
        assert waits["release"] == {"condition": "service_completed_successfully"}
    assert services["release"]["restart"] == "no"
    assert services["beat"]["deploy"]["replicas"] == 1
    # Published on loopback only: a buffering proxy faces clients, never gunicorn.
    assert all(port.startswith("127.0.0.1:") for port in services["web"]["ports"])
