"""The benchmark runner's command line: what it refuses, before it measures anything."""

from __future__ import annotations

import argparse
import re

import pytest

from bench.__main__ import main
from bench.bench_agent import _seeds


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["people", "--help"], "people takes no options (given: --help)", id="options-to-a-benchmark-without-any"),
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


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("1-3", (1, 2, 3)),  # a range, both ends included
        ("1,2,5", (1, 2, 5)),  # a list
        ("9", (9,)),  # the last seed alone
    ],
)
def test_the_agent_benchmark_reads_the_tuning_seeds_asked_for(text, seeds):
    assert _seeds(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [
        ("0-2", "the tuning set has seeds 1-9, not 0"),  # a seed the tuning set does not have
        ("20", "the tuning set has seeds 1-9, not 20"),  # a validation seed is no tuning seed
        ("3-1", "'3-1' holds no seed: a range goes up, as in 1-3"),  # a range backwards holds nothing
        ("x", "'x' is not seeds such as 1-3 or 1,2,5"),  # not numbers
    ],
)
def test_the_agent_benchmark_refuses_seeds_the_tuning_set_has_not(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        _seeds(text)
