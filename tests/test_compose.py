"""Docker does not run on CI machines, so the compose file is checked by reading it: every
service's command must be a real `updatedesk` command and every variable a real setting."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings
from updatedesk.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = ("migrate", "api", "worker", "scheduler")


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


def test_infrastructure_services_have_health_checks():
    for name in ("postgres", "redis", "api"):
        assert "healthcheck" in service(name), name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_is_a_real_cli_command(name):
    command = service(name)["command"]
    assert command[0] == "updatedesk"
    parser = build_parser()
    try:
        args = parser.parse_args(command[1:])
    except SystemExit as exit_:  # argparse refuses unknown commands and options this way
        pytest.fail(f"{name}: `{' '.join(command)}` is not accepted by the CLI ({exit_})")
    assert isinstance(args, argparse.Namespace)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_variables_are_real_settings(name):
    known = setting_names()
    variables = set(service(name).get("environment", {}))
    assert variables, f"{name} sets no variables"
    assert variables <= known, f"{name} sets unknown variables {sorted(variables - known)}"


def test_app_services_wait_for_migrations_and_databases():
    for name in ("api", "worker", "scheduler"):
        depends = service(name)["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_dockerfile_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("models", "schema", "resolvers", "workers", "updatedesk"):
        assert f"COPY {package} ./{package}" in dockerfile
