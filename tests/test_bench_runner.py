"""The benchmark runner's command line: what it refuses, before it measures anything."""

from __future__ import annotations

import argparse
import re

import pytest

from bench.__main__ import figures, main
from bench.bench_agent import _below_by_chance, _seeds
from bench.common import shown


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


@pytest.mark.parametrize(
    "rate, below",
    [
        (0.0, 0.0),  # no error anywhere: every camera counts at 1.0
        (0.001, 0.0),  # one error in a thousand: a second one on a line of 30 is rare
        (0.011, 5.0),  # the evaluation set's rate, 1.07 %: about the 5 of 32 it shows below 0.95
        (0.2, 32.0),  # one in five: every camera has a line two errors off
    ],
)
def test_cameras_below_target_by_chance_follow_the_error_rate(rate, below):
    cameras = [(30, 30, 31, 29)] * 32  # 32 cameras, four lines and directions of about 30 crossings each
    assert _below_by_chance(cameras, rate, 0.95) == below


@pytest.mark.parametrize(
    "value, printed",
    [
        (0.446, "0.446"),  # a ratio just under its 0.45 target is not rounded up to it
        (0.9484, "0.948"),  # nor an accuracy just under 0.95
        (5.0, "5.000"),  # a count of cameras, small
        (1346.338, "1,346.34"),  # a rate: two decimals, thousands marked
        (-0.25, "-0.250"),  # a change below zero
    ],
)
def test_a_figure_is_printed_precisely_enough_to_be_read_against_its_target(value, printed, capsys):
    from bench.common import figure

    assert shown(value) == printed
    figure("agent ratio", value, "ratio", ">= 0.45")
    [record] = figures(capsys.readouterr().out.splitlines(), "agent")
    assert record["value"] == pytest.approx(float(printed.replace(",", ""))) and record["target"] == ">= 0.45"
