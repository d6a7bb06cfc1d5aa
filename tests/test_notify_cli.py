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
    "text, problems",
    [
        ("routes: [", [r"routes\.yaml:1: not valid YAML: "]),  # broken YAML, on the line it breaks
        ("- just a list", [r"routes\.yaml:1: expected a mapping with 'routes', got list"]),  # not a mapping
        (  # a bad value on its line, the route's channel left out of the path (the file has no such level); the unset secret too
            ROUTES.replace("min_severity: critical", "min_severity: urgent"),
            [
                r"routes\.yaml:6: routes\[0\]\.bot_token: .*IOC_TEST_TELEGRAM_TOKEN is not set",
                r"routes\.yaml:9: routes\[0\]\.min_severity: Input should be 'info', 'warning' or 'critical' \(got 'urgent'\)",
            ],
        ),
        (ROUTES, [r"routes\.yaml:6: routes\[0\]\.bot_token: .*IOC_TEST_TELEGRAM_TOKEN is not set"]),  # a secret's environment variable unset
        (  # every problem at once, each on its line: an unknown key in one route, a bad address in the other
            ROUTES.replace("bot_token: env:IOC_TEST_TELEGRAM_TOKEN", "bot_token: t\n    colour: red").replace("https://dispatch", "ftp://dispatch"),
            [r"routes\.yaml:7: routes\[0\]\.colour: unknown key", r"routes\.yaml:13: routes\[1\]\.url: should be an http:// or https:// address"],
        ),
        (  # an e-mail route's one address refused: said once, of the address, not again of the list left empty
            "routes:\n  - name: mail\n    channel: email\n    smtp_host: h\n    sender: a@b\n    to: [nobody]\n",
            [r"routes\.yaml:6: routes\[0\]\.to\[0\]: should be an e-mail address, such as .* \(got 'nobody'\)"],
        ),
        (  # no address at all
            "routes:\n  - name: mail\n    channel: email\n    smtp_host: h\n    sender: a@b\n    to: []\n",
            [r"routes\.yaml:6: routes\[0\]\.to: Tuple should have at least 1 item"],
        ),
        (  # a key given twice: YAML would keep the second route's address silently
            ROUTES.replace("secret: s3cret", "secret: s3cret\n    url: https://other.example/ioc"),
            [r"routes\.yaml:14: routes\[1\]\.url: key given twice"],
        ),
    ],
)
def test_a_bad_routes_file_is_refused_naming_each_problem_by_line_and_key(
    tmp_path: Path, text: str, problems: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOC_TEST_TELEGRAM_TOKEN", raising=False)
    routes = tmp_path / "routes.yaml"
    routes.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--routes", str(routes)])
    assert result.exit_code == RoutesError.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "error: invalid routes file:" and len(lines) == 1 + len(problems), result.stderr
    for line, problem in zip(lines[1:], problems):
        assert re.search(problem, line), result.stderr


def test_a_routes_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_bytes(b"routes: []\n# \xff\xfe\n")
    result = CliRunner().invoke(app, ["check", "--routes", str(routes)])
    assert result.exit_code == 2 and "routes.yaml:2: cannot read the file: not UTF-8 text (save it as UTF-8)" in result.stderr, result.stderr


def test_a_missing_routes_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--routes", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml: cannot read the file: No such file or directory" in result.stderr, result.stderr
