"""docker-compose.yml stays in step with the code (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_redis_postgres_two_instances_and_a_balancer() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "app1", "app2", "lb"} <= services.keys()
    for name in ("redis", "postgres"):
        assert "healthcheck" in services[name], name
    for name in ("app1", "app2"):
        env = services[name]["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert "@postgres:" in env["DATABASE_URL"]
    # The instances' health check is the image's (Dockerfile HEALTHCHECK on /readyz).
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()
    assert "/readyz" in (ROOT / "Dockerfile").read_text()


def test_balancer_gets_every_variable_its_configuration_uses() -> None:
    lb = compose()["services"]["lb"]
    mounted = {v.split(":")[0] for v in lb["volumes"]}
    assert "./deploy/haproxy.cfg" in mounted
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    lines = [line.split("#", 1)[0] for line in config.splitlines()]
    used = set(re.findall(r"\$\{(\w+)\}", "\n".join(lines)))
    assert used and used <= lb["environment"].keys()
    backends = {lb["environment"][k].split(":")[0] for k in used if "BACKEND" in k}
    assert backends == {"app1", "app2"}
