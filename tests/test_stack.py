"""The local stack, for real: Tansu broker + TimescaleDB, started by `stack_up`.

The default stack (IOC_* env, default ports) is shared with other test runs, so it is only
ever brought up here; stopping and restarting is tested on a second stack with its own
state dir and free ports, torn down at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from typer.testing import CliRunner

from deploy.local.cli import app
from deploy.local.stack import StackError, StackSettings, stack_down, stack_status, stack_up

pytestmark = pytest.mark.services


def _listening_pids(port: int) -> set[int]:
    """Pids of processes holding a TCP socket that listens on `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            pids.add(int(proc.name))
    return pids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tansu_cmd(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_up_twice_is_fast_and_keeps_one_broker() -> None:
    settings = StackSettings.load()
    first = stack_up(settings)
    started = time.monotonic()
    second = stack_up(settings)
    elapsed = time.monotonic() - started

    assert first.broker_running and first.pg_running
    assert second.broker_pid == first.broker_pid is not None
    assert elapsed < 2, f"second stack_up took {elapsed:.2f}s"
    assert _listening_pids(settings.broker_port) == {second.broker_pid}
    assert "tansu broker" in _tansu_cmd(second.broker_pid)
    assert json.loads((settings.state_dir / "stack.json").read_text())["dsn"] == second.dsn


def test_status_json_gives_working_bootstrap_and_dsn() -> None:
    stack_up(StackSettings.load())
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["broker_running"] and status["pg_running"]

    # Kafka: produce one message on a topic of our own and read it back.
    topic = f"test-stack-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=status["bootstrap"])
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=status["bootstrap"])
    producer.send(topic, b"hello stack").get(timeout=30)
    producer.close()
    # Assigned partition read from offset 0: no consumer group, so no Tansu rebalance wait.
    consumer = KafkaConsumer(bootstrap_servers=status["bootstrap"], enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while not values and time.monotonic() < deadline:
        values += [r.value for recs in consumer.poll(timeout_ms=500).values() for r in recs]
    consumer.close()
    assert values == [b"hello stack"]

    # TimescaleDB: usable in a freshly created database.
    name = f"test_stack_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(status["dsn"], autocommit=True) as admin_conn:
        admin_conn.execute(f'CREATE DATABASE "{name}"')
        try:
            with psycopg.connect(status["dsn"], dbname=name, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
                conn.execute("CREATE TABLE m (ts timestamptz NOT NULL, v double precision)")
                conn.execute("SELECT create_hypertable('m', 'ts')")
                conn.execute("INSERT INTO m VALUES (now(), 1.5)")
                assert conn.execute("SELECT count(*) FROM m").fetchone() == (1,)
        finally:
            admin_conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert version.startswith("2.")


@pytest.fixture
def other_stack():
    """A second stack on free ports in its own state dir, always torn down."""
    # Not pytest's tmp_path: its parent is 0700 root, which the postgres OS user cannot enter.
    state = Path(tempfile.mkdtemp(prefix="ioc-stack-test-"))
    state.chmod(0o755)
    settings = StackSettings(state_dir=state, broker_port=_free_port(), pg_port=_free_port())
    try:
        yield settings
    finally:
        stack_down(settings)
        shutil.rmtree(state, ignore_errors=True)


def test_down_stops_both_and_up_recovers_from_stale_pid_files(other_stack: StackSettings) -> None:
    s = other_stack
    info = stack_up(s)
    assert info.broker_running and info.pg_running and info.bootstrap == f"127.0.0.1:{s.broker_port}"

    stack_down(s)
    down = stack_status(s)
    assert not down.broker_running and not down.pg_running and down.broker_pid is None
    assert _listening_pids(s.broker_port) == set() and _listening_pids(s.pg_port) == set()
    result = CliRunner().invoke(app, ["status", "--json"], env={
        "IOC_STATE_DIR": str(s.state_dir), "IOC_BROKER_PORT": str(s.broker_port), "IOC_PG_PORT": str(s.pg_port)})
    assert result.exit_code == 1 and json.loads(result.stdout)["broker_running"] is False

    # As after a reboot: pid files name live processes that are not ours (this test process).
    (s.state_dir / "tansu" / "tansu.pid").write_text(f"{os.getpid()}\n")
    (s.state_dir / "pg" / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n{s.state_dir}\n0\n{s.pg_port}\n")
    again = stack_up(s)
    assert again.broker_running and again.pg_running and again.broker_pid != os.getpid()
    with psycopg.connect(again.dsn) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'timescaledb'").fetchone()


def test_port_taken_by_another_program_is_a_clear_error(other_stack: StackSettings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", other_stack.broker_port))
        squatter.listen()
        with pytest.raises(StackError, match="not our Tansu broker"):
            stack_up(other_stack)
