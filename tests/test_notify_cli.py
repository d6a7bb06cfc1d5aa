"""`ioc notify check`: a routes file is validated and described, and a bad one is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboards.notify.cli import app
from dashboards.notify.config import RoutesError

ROUTES = """
routes:
  - name: con-dao
    channel: telegram
    chat_id: "-100"
    bot_token: env:IOC_TEST_TELEGRAM_TOKEN
    districts: ["Côn Đảo"]
    rules: [crowd, wrong_way]
    min_severity: critical
  - name: dispatch
    channel: webhook
    url: https://dispatch.example/ioc
    secret: s3cret
"""


def test_check_describes_each_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_TEST_TELEGRAM_TOKEN", "123:abc")
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--routes", str(routes)])
    assert result.exit_code == 0, result.output
    assert "con-dao: telegram, crowd, wrong_way, critical and above, Côn Đảo, vi/en" in result.output
    assert "dispatch: webhook, all rules, warning and above, all districts, vi/en" in result.output
    assert "123:abc" not in result.output and "s3cret" not in result.output


@pytest.mark.parametrize(
    "text, problem",
    [
        ("routes: [", "not valid YAML"),  # broken YAML
        ("- just a list", "expected a mapping"),  # not a mapping
        (ROUTES.replace("min_severity: critical", "min_severity: urgent"), r"routes\.0\.telegram\.min_severity"),  # bad value, named by path
        (ROUTES, "IOC_TEST_TELEGRAM_TOKEN is not set"),  # a secret from an environment variable that is missing
    ],
)
def test_a_bad_routes_file_is_refused_with_one_line(tmp_path: Path, text: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_TEST_TELEGRAM_TOKEN", raising=False)
    routes = tmp_path / "routes.yaml"
    routes.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--routes", str(routes)])
    assert result.exit_code == RoutesError.exit_code == 2, result.output
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and re.search(problem, error_lines[0]), result.stderr


def test_a_missing_routes_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--routes", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read routes file" in result.stderr and "nope.yaml" in result.stderr
