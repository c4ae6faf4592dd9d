"""The compose stack, read without an engine: replicas behind one load balancer, a healthcheck for
every service, one image build, real commands and settings, a build context that carries every
package. `docker compose config` checks the file too where the compose plugin is installed."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings
from tests.support_deploy import DockerIgnore, parse_caddyfile
from updatedesk.cli import build_parser
from workers.mail import parse_smtp_url
from workers.process import HAND_BACK_SECONDS, SHUTDOWN_DEADLINE_SECONDS, WORKER_SHUTDOWN_TIMEOUT_MS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CADDYFILE = ROOT / "deploy" / "Caddyfile"
APP_SERVICES = ("migrate", "bootstrap", "api", "worker", "scheduler")
#: Run once and exit; what waits on them waits for their exit status.
ONE_SHOT_APP_SERVICES = ("migrate", "bootstrap")
LONG_RUNNING_APP_SERVICES = ("api", "worker", "scheduler")
#: Services that publish a host port: the one address, and mailpit's web page.
PUBLISHING = {"lb", "mailpit"}
APP_IMAGE = "updatedesk:latest"
API_PORT = 8000
#: Where the documentation says mails go when the `mail` profile runs.
MAILPIT_SMTP_URL = "smtp://mailpit:1025"


def setting_names() -> set[str]:
    names: set[str] = set()
    prefix = Settings.model_config.get("env_prefix", "")
    for field_name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None)
        if aliases:
            names.update(a for a in aliases if isinstance(a, str) and a.isupper())
        names.add(f"{prefix}{field_name}".upper())
    return names


def service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def parses(command: list[str]) -> argparse.Namespace:
    assert command[0] == "updatedesk", command
    try:
        return build_parser().parse_args(command[1:])
    except SystemExit as exit_:  # argparse refuses unknown commands and options this way
        pytest.fail(f"`{' '.join(command)}` is not accepted by the CLI ({exit_})")


def healthcheck_command(name: str) -> list[str]:
    test = service(name)["healthcheck"]["test"]
    assert test[0] == "CMD", f"{name}: exec form, so no shell is needed in the image"
    return list(test[1:])


# --------------------------------------------------------------------------- replicas


def test_only_the_load_balancer_and_mailpit_publish_host_ports():
    publishing = {name for name, spec in COMPOSE["services"].items() if spec.get("ports")}
    assert publishing == PUBLISHING
    assert "ports" not in service("api")  # `--scale api=3` would clash on a fixed host port
    assert "container_name" not in str(COMPOSE)  # a fixed name cannot scale either
    [published] = service("lb")["ports"]
    assert published.endswith(":8000")


def test_load_balancer_is_caddy_2_with_the_committed_config():
    lb = service("lb")
    assert lb["image"] == "caddy:2"
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in lb["volumes"]
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"


def _site(port: int) -> Any:
    sites = [d for d in parse_caddyfile(CADDYFILE.read_text()) if d.tokens == [f":{port}"]]
    assert len(sites) == 1, f"no site on :{port} in {CADDYFILE}"
    return sites[0]


def test_caddyfile_routes_graphql_probes_and_graphiql_to_every_api_replica():
    site = _site(8000)
    [matcher] = [d for d in site.block if d.name == "@api"]
    assert matcher.tokens[1] == "path"
    assert set(matcher.tokens[2:]) == {
        "/graphql",
        "/healthz",
        "/readyz",
        "/",
        "/graphiql-static/*",
        "/web/*",  # the page's modules, and GraphiQL's WebSocket client for subscriptions
        "/calendar/*",  # calendar feeds
    }
    # Matched by path alone (no method or header condition), so the WebSocket upgrade of
    # `/graphql` takes this route too, and Caddy's reverse_proxy carries upgrades as they are.
    routes = {tuple(d.tokens): d for d in site.find("handle")}
    assert set(routes) == {("handle", "@api"), ("handle",)}
    api_route = routes[("handle", "@api")]
    reverse_proxy = api_route.one("reverse_proxy")
    assert reverse_proxy.tokens == ["reverse_proxy"], "upstreams come from DNS, not a fixed list"
    dynamic = reverse_proxy.one("dynamic")
    assert dynamic.tokens == ["dynamic", "a"]  # every A record of `api`: one per replica
    assert dynamic.one("name").tokens == ["name", "api"]
    assert dynamic.one("port").tokens == ["port", str(API_PORT)]
    assert reverse_proxy.one("lb_policy").tokens == ["lb_policy", "round_robin"]
    assert not reverse_proxy.find("transport")  # plain HTTP/1.1 to the API: upgrades work
    # Everything else (e.g. /metrics, which is per replica) ends at the balancer.
    assert routes[("handle",)].one("respond").tokens == ["respond", "Not Found", "404"]


def test_api_listens_where_the_balancer_sends_and_balancer_health_port_matches():
    serve = parses(service("api")["command"])
    assert (serve.host, serve.port) == ("0.0.0.0", API_PORT)
    assert str(API_PORT) in [str(p) for p in service("api")["expose"]]
    health_site = _site(8081)
    assert health_site.one("bind").tokens == ["bind", "127.0.0.1"]
    assert healthcheck_command("lb")[-1] == "http://127.0.0.1:8081/"


# --------------------------------------------------------------------------- health


def test_every_long_running_service_has_a_healthcheck():
    for name, spec in COMPOSE["services"].items():
        if name in ONE_SHOT_APP_SERVICES:
            assert spec["restart"] == "no"  # runs once; its exit status is what others wait on
            assert "healthcheck" not in spec, name
            continue
        assert "healthcheck" in spec, name
        assert healthcheck_command(name), name


def test_postgres_is_checked_over_tcp_not_the_first_start_socket():
    command = healthcheck_command("postgres")
    assert command[:3] == ["pg_isready", "-h", "127.0.0.1"]
    assert command[command.index("-U") + 1] == "updatedesk"


@pytest.mark.parametrize("name", ["worker", "scheduler"])
def test_worker_and_scheduler_check_their_heartbeat(name):
    args = parses(healthcheck_command(name))
    assert (args.command, args.role) == ("healthcheck", name)
    assert args.max_age is not None and args.max_age >= 30


def grace_seconds(text: str) -> float:
    """A compose duration such as "60s" or "1m30s", in seconds."""
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
            continue
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
        number = ""
    return total


def test_a_stopping_worker_is_given_time_to_hand_back_its_jobs_and_stop():
    """docker stops a container with SIGKILL 10 s after SIGTERM unless told otherwise: a worker
    killed while it hands its jobs back or waits for its threads leaves that to lease lapses. Its
    grace covers both of its own waits."""
    grace = grace_seconds(str(service("worker").get("stop_grace_period", "10s")))
    assert grace >= HAND_BACK_SECONDS + WORKER_SHUTDOWN_TIMEOUT_MS / 1000
    # Its own deadline comes first, so that it says where it waited instead of being killed.
    assert HAND_BACK_SECONDS + WORKER_SHUTDOWN_TIMEOUT_MS / 1000 <= SHUTDOWN_DEADLINE_SECONDS < grace


def test_migrate_waits_for_the_database_and_the_others_wait_for_migrate():
    args = parses(service("migrate")["command"])
    assert args.command == "migrate" and args.wait >= 60
    assert service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in LONG_RUNNING_APP_SERVICES:
        depends = service(name)["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_bootstrap_runs_once_after_migrate_and_loads_the_demo():
    bootstrap = service("bootstrap")
    args = parses(bootstrap["command"])
    # No file: the demo world into an empty database; a staff token in `docker compose logs`.
    assert (args.command, args.file) == ("bootstrap", None)
    assert bootstrap["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bootstrap["restart"] == "no"
    assert "ports" not in bootstrap
    readme = (ROOT / "README.md").read_text()
    assert "docker compose logs bootstrap" in readme
    assert "updatedesk tokens issue" in readme  # how to get another token later


# --------------------------------------------------------------------------- commands and variables


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_is_a_real_cli_command(name):
    assert isinstance(parses(service(name)["command"]), argparse.Namespace)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_variables_are_real_settings(name):
    known = setting_names()
    variables = set(service(name).get("environment", {}))
    assert variables, f"{name} sets no variables"
    assert variables <= known, f"{name} sets unknown variables {sorted(variables - known)}"


def test_mail_goes_to_the_log_unless_the_mail_profile_is_chosen():
    mailpit = service("mailpit")
    assert mailpit["image"] == "axllent/mailpit"
    assert mailpit["profiles"] == ["mail"]  # optional: only with `--profile mail`
    for name in APP_SERVICES:
        assert service(name)["environment"]["SMTP_URL"] == "${SMTP_URL:-}"  # empty: logged
    target = parse_smtp_url(MAILPIT_SMTP_URL)
    assert (target.host, target.port) == ("mailpit", 1025)  # mailpit's SMTP port
    assert f"SMTP_URL={MAILPIT_SMTP_URL}" in (ROOT / "README.md").read_text()


# --------------------------------------------------------------------------- the image


def test_the_image_is_built_once_and_shared():
    builders = [name for name, spec in COMPOSE["services"].items() if "build" in spec]
    assert builders == ["migrate"]
    for name in APP_SERVICES:
        assert service(name)["image"] == APP_IMAGE
        assert service(name)["pull_policy"] == "never"  # built here, never looked up in a registry


def wheel_packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages: list[str] = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return packages


def test_dockerfile_copies_every_package_of_the_wheel():
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignore = DockerIgnore.read(ROOT / ".dockerignore")
    copies_tree = "COPY . ." in dockerfile.splitlines()
    packages = wheel_packages()
    assert packages
    for package in packages:
        assert copies_tree or f"COPY {package} ./{package}" in dockerfile, package
        files = [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
        assert files, package
        left_out = [f for f in files if ignore.excludes(f)]
        assert not left_out, f".dockerignore leaves out {left_out[:5]}"
    for needed in ("pyproject.toml", "uv.lock", "README.md"):
        assert not ignore.excludes(needed), needed


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "updatedesk.sqlite3",
        "updatedesk.sqlite3-wal",
        "models/__pycache__/tables.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "tests/conftest.py",
        ".env",
    ],
)
def test_build_context_leaves_out(path):
    assert DockerIgnore.read(ROOT / ".dockerignore").excludes(path)


# --------------------------------------------------------------------------- docker compose itself


def compose_plugin_missing() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"the docker compose plugin is not installed ({probe.stderr.strip().splitlines()[0]})"
    return None


def test_docker_compose_config_accepts_the_file():
    missing = compose_plugin_missing()
    if missing:
        pytest.skip(f"tool absent: {missing}; the structural tests above cover the file")
    env = {k: v for k, v in os.environ.items() if k not in ("SMTP_URL", "HTTP_PORT", "MAILPIT_PORT")}
    # `config` needs no engine: it only loads, interpolates and validates the file.
    for profile in ([], ["--profile", "mail"]):
        result = subprocess.run(
            ["docker", "compose", *profile, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
