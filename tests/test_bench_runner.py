"""The benchmark runner's command line: what it refuses, before it measures anything."""

from __future__ import annotations

import pytest

from bench.__main__ import main


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["agent", "--help"], "agent takes no options (given: --help)", id="options-to-a-benchmark-without-any"),
        pytest.param(["agent", "city", "--minutes", "1"], "options after the benchmark's name need exactly one benchmark", id="options-for-two"),
        pytest.param(["nosuch"], "unknown benchmark(s): bench_nosuch", id="unknown-name"),
        pytest.param(["agent", "--json"], "--json needs a file path", id="json-without-a-path"),
    ],
)
def test_the_runner_refuses_what_it_cannot_run_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1
    assert "==" not in captured.out  # nothing was run
