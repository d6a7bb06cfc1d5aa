"""The whole pipeline at a city's load, in real time: `python -m bench city --cameras 1100 --minutes 10`.

Simulated cameras (bench/citysim.py: the rates and mix of real agent runs, frames sampled as the
agent samples them) publish through the agent's own path (camera_agents.publish.KafkaSink, the
kafka-python producer with the agent's batching and linger), from ``--producers`` processes. The
processors (`ioc processors run`) and the sink (`ioc ingest run`) run as the commands a city
runs, with ``--processor-workers`` / ``--sink-workers`` processes, into a scratch TimescaleDB.

Measured for each load step (1x, 2x, 5x the cameras by default, each for ``--minutes``):

* events/s in (sent by the agents), on the bus, out of the processors (windows, alerts) and rows
  written by the sink;
* consumer lag of the sink's and the processors' groups over time (sampled every 2 s);
* latency from an event's timestamp to its row being visible in TimescaleDB (crossings of the
  probe cameras, every 20th, polled every 0.25 s: figures carry up to 0.25 s of polling), and from
  a one-minute window's end to its row (count windows of the probe cameras, polled alike);
* CPU seconds and peak memory (VmHWM) of every process (agents, processors, sink, and the
  database backends of the scratch database);
* bytes per table per camera-day (hypertable_size deltas over the step).

A step keeps up when the lag at its end is under 2 s of traffic and the agents kept real time; it
is within the latency targets when, besides, p99 event-to-row <= 2 s and window-end-to-row p99 <=
grace + 2 s. Two knees are printed: the last load kept up with, and the last load within the
targets (every lower load too). Loads are raised until one is not kept up with. The machine is shared: the load average and
the whole machine's CPU use are printed beside the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import figure, local_stack, scratch_database

PROBE_EVERY = 20  # every 20th camera is a probe camera for latency
POLL_S = 0.25  # how often the probes' rows are looked for: latencies carry up to this much of polling
GRACE_S = 10.0
TICK_S = 0.1
_TICKS = os.sysconf("SC_CLK_TCK")


# --- agents -------------------------------------------------------------------------------------

def _agents(cameras: list[str], volumes: list[float], bootstrap: str, namespace: str, spool: str, stop, report) -> None:
    """One agent process: its cameras' events, sent as they happen through the agent's KafkaSink."""
    from bench.citysim import CameraSim
    from camera_agents.publish import KafkaSink, KafkaSinkSettings
    from ingest.bus import BusSettings

    sink = KafkaSink(KafkaSinkSettings(bus=BusSettings(bootstrap=bootstrap, namespace=namespace), spool_dir=Path(spool)))
    start = datetime.now(UTC)
    sims = [CameraSim(cam, start, daily_volume=vol, seed=i) for i, (cam, vol) in enumerate(zip(cameras, volumes, strict=True))]
    sent, behind_max, last_report = 0, 0.0, time.monotonic()
    next_tick = time.monotonic()
    while not stop.is_set():
        now = datetime.now(UTC)
        for sim in sims:
            for event in sim.advance(now):
                sink.send(event)
                sent += 1
        next_tick += TICK_S
        behind = time.monotonic() - next_tick
        behind_max = max(behind_max, behind)
        if behind < 0:
            time.sleep(-behind)
        else:
            next_tick = time.monotonic()  # late: do not try to catch up in a burst
        if time.monotonic() - last_report >= 2.0:
            report.put((os.getpid(), sent, behind_max, sink.stats.spooled))
            last_report = time.monotonic()
    sink.close()
    report.put((os.getpid(), sent, behind_max, sink.stats.spooled))


# --- processes ----------------------------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    todo += [int(x) for x in handle.read().split()]
        except OSError:
            pass
    return out


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except OSError:
        return 0.0


def _memory_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in kB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    hwm = re.search(r"VmHWM:\s+(\d+)", text)
    return (int(rss[1]) if rss else 0), (int(hwm[1]) if hwm else 0)


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICKS, sum(values) / _TICKS


class _Watch:
    """CPU and memory of named process trees, sampled."""

    def __init__(self) -> None:
        self.roots: dict[str, list[int]] = {}
        self.cpu: dict[int, float] = {}
        self.peak: dict[int, int] = {}
        self.rss: dict[int, list[int]] = {}
        self.role: dict[int, str] = {}

    def sample(self) -> None:
        for role, roots in self.roots.items():
            for root in roots:
                for pid in _tree(root):
                    self.role.setdefault(pid, role)
                    cpu = _cpu_s(pid)
                    if cpu:
                        self.cpu[pid] = cpu
                    rss, hwm = _memory_kb(pid)
                    if hwm:
                        self.peak[pid] = max(self.peak.get(pid, 0), hwm)
                        self.rss.setdefault(pid, []).append(rss)


# --- the bus and the database ---------------------------------------------------------------------

class _Bus:
    def __init__(self, bootstrap: str, namespace: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        from ingest.bus import BusSettings

        self.settings = BusSettings(bootstrap=bootstrap, namespace=namespace)
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap)

    def _ends(self, topics) -> dict:
        from kafka import TopicPartition

        tps = [TopicPartition(t, p) for t in topics for p in (self.consumer.partitions_for_topic(t) or ())]
        return self.consumer.end_offsets(tps) if tps else {}

    def produced(self, topics) -> int:
        return sum(self._ends(topics).values())

    def lag(self, group: str, topics) -> int:
        ends = self._ends(topics)
        from kafka.errors import KafkaError

        try:
            committed = self.admin.list_group_offsets(group).get(group) or {}
        except KafkaError:  # the group may not exist yet: all of it is lag
            committed = {}
        return sum(max(0, end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                   for tp, end in ends.items())

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class _Latency(threading.Thread):
    """Polls the probe cameras' rows: when each crossing and each count window first became visible."""

    def __init__(self, db, probes: list[str]) -> None:
        super().__init__(daemon=True)
        self.db, self.probes = db, probes
        self.rows: dict[str, float] = {}  # event_id -> latency s
        self.windows: dict[tuple, float] = {}  # window key -> seconds after the window's end
        self.seen_at: dict[object, float] = {}  # event_id or window key -> when it was seen
        self.longest_poll = 0.0  # s: the resolution of the figures, beyond POLL_S
        self.stop = threading.Event()

    def run(self) -> None:
        from ingest.db import connect

        with connect(self.db, autocommit=True) as conn:
            while not self.stop.wait(POLL_S):
                # A row a statement returns was committed before the statement began: stamp it with
                # that moment, so that a slow query on a busy machine does not count as latency.
                asked = time.time()
                for event_id, ts in conn.execute(
                    "SELECT event_id, ts FROM crossings WHERE camera_id = ANY(%s) AND ts > now() - interval '120 s'", (self.probes,)
                ):
                    if event_id not in self.rows:
                        self.rows[event_id] = asked - ts.timestamp()
                        self.seen_at[event_id] = asked
                self.longest_poll = max(self.longest_poll, time.time() - asked)
                asked = time.time()
                for key in conn.execute(
                    "SELECT camera_id, line_id, direction, cls, ts FROM count_windows "
                    "WHERE camera_id = ANY(%s) AND ts > now() - interval '10 min'", (self.probes,)
                ):
                    if key not in self.windows:
                        self.windows[key] = asked - (key[4].timestamp() + 60)
                        self.seen_at[key] = asked
                self.longest_poll = max(self.longest_poll, time.time() - asked)


def _table_sizes(conn) -> dict[str, int]:
    out = {}
    for (name,) in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables"):
        out[name] = conn.execute("SELECT hypertable_size(%s::regclass)", (name,)).fetchone()[0] or 0
    return out


def _metrics(port: int) -> str:
    """A process's Prometheus exposition; empty while it does not answer."""
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""


def _scrape(port: int, metric: str) -> float:
    text = _metrics(port)
    return sum(float(m[1]) for m in re.finditer(rf"^{metric}(?:_total)?(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def _histogram_above(port: int, metric: str, bound: float) -> tuple[float, float]:
    """(observations above ``bound``, all observations) of a Prometheus histogram, since its start."""
    text = _metrics(port)
    buckets = {float(m[1]): float(m[2]) for m in re.finditer(rf'^{metric}_bucket{{le="([0-9.e+]+|\+Inf)"}} ([0-9.e+]+)$', text, re.M)
               if m[1] != "+Inf"}
    count = sum(float(m[1]) for m in re.finditer(rf"^{metric}_count ([0-9.e+]+)$", text, re.M))
    return count - buckets.get(bound, count), count


# --- the run --------------------------------------------------------------------------------------

def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench city", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1100, help="cameras at 1x (the city)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each load step")
    parser.add_argument("--loads", default="1,2,5", help="load steps as multiples of --cameras")
    parser.add_argument("--cameras-per-producer", type=int, default=200,
                        help="cameras one agent process publishes for (one carried ~600 events/s, ~250 cameras, under a load of 10 on 2 cores)")
    parser.add_argument("--sink-workers", type=int, default=1)
    parser.add_argument("--processor-workers", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=None,
                        help="partitions per topic (default: the workers of the widest stage; the local broker "
                             "lists every partition a fetch reads, so partitions no worker needs cost it on every fetch)")
    return parser.parse_args(argv)


def _ioc(*words: str, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", "from ioc.cli import main; main()", *words]
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def main(argv: list[str] | None = None) -> None:
    from bench.citysim import daily_volumes
    from ingest.bus import BusSettings, delete_namespace, ensure_topics

    args = _args(argv or [])
    if args.partitions is None:
        args.partitions = max(args.sink_workers, args.processor_workers)
    loads = [float(x) for x in args.loads.split(",")]
    stack = local_stack()
    namespace = f"city{uuid.uuid4().hex[:8]}"
    bus_settings = BusSettings(bootstrap=stack.bootstrap, namespace=namespace, partitions=args.partitions)
    ensure_topics(bus_settings)
    topics = bus_settings.topics
    event_topics = topics.event_topics()
    window_topics = [topics.counts, topics.alerts]  # what the processors write
    raw_topics = [t for t in event_topics if t not in window_topics]
    workdir = Path(f"/tmp/ioc-bench-city-{namespace}")
    workdir.mkdir(parents=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    machine_before = _machine_cpu()
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(load_before)} at the start; logs in {workdir}", flush=True)
    print(f"bus: {args.partitions} partition(s) per topic; {args.processor_workers} processors worker(s), "
          f"{args.sink_workers} sink worker(s)", flush=True)
    with scratch_database(stack, prefix="ioc_city") as db:
        common = ["--bootstrap", stack.bootstrap, "--namespace", namespace]
        sink_port = 19600 + os.getpid() % 300
        sink = _ioc("ingest", "run", *common, "--dsn", db.conninfo, "--workers", str(args.sink_workers),
                    "--metrics-port", str(sink_port), "--group", f"{namespace}-sink", log=workdir / "sink.log")
        processors_port = sink_port + 50
        processors = _ioc("processors", "run", *common, "--state-dir", str(workdir / "state"), "--workers",
                          str(args.processor_workers), "--grace", str(GRACE_S), "--app-id", f"{namespace}-processors",
                          "--metrics-port", str(processors_port), log=workdir / "processors.log")
        watch = _Watch()
        watch.roots = {"sink": [sink.pid], "processors": [processors.pid]}
        if stack.broker_pid:  # the local broker serves this run and whatever else uses it meanwhile
            watch.roots["broker"] = [stack.broker_pid]
        bus = _Bus(stack.bootstrap, namespace)
        # Two knees: the load the pipeline keeps up with (real time, bounded lag), and the load at
        # which its latency stays within the targets. Loads are raised until it no longer keeps up.
        knee = within = 0.0
        all_within = True
        try:
            time.sleep(15)  # both groups join before the first event
            for load in loads:
                keeps_up, on_target = _step(args, load, db, bus, watch, namespace, workdir, raw_topics, window_topics,
                                            sink_port, processors_port, daily_volumes)
                if not keeps_up:
                    break
                knee = load
                all_within = all_within and on_target
                within = load if all_within else within
        finally:
            for proc in (sink, processors):
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for proc in (sink, processors):
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            bus.close()
            delete_namespace(bus_settings)  # an in-memory broker slows with every topic it keeps
        figure("city.knee_cameras", knee * args.cameras, "cameras", f">= {args.cameras:,} held in real time")
        figure("city.knee_cameras_within_latency_targets", within * args.cameras, "cameras", f">= {args.cameras:,}")
    busy, total = _machine_cpu()
    used = (busy - machine_before[0]) / max(1e-9, total - machine_before[1])
    figure("city.machine_cpu_busy", used * 100, "%")
    print(f"machine: load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])} at the end", flush=True)


def _step(args, load, db, bus, watch, namespace, workdir, raw_topics, window_topics, sink_port, processors_port,
          daily_volumes) -> tuple[bool, bool]:
    from ingest.db import connect

    cameras = int(round(args.cameras * load))
    tag = f"{load:g}x"
    names = [f"cam-{tag}-{i:05d}" for i in range(cameras)]
    volumes = daily_volumes(cameras)
    probes = names[::PROBE_EVERY]
    print(f"-- load {tag}: {cameras:,} cameras for {args.minutes:g} min", flush=True)
    ctx = mp.get_context("spawn")
    stop, report = ctx.Event(), ctx.Queue()
    per = max(1, args.cameras_per_producer)
    producers = [
        ctx.Process(target=_agents, args=(names[i : i + per], volumes[i : i + per], bus.settings.bootstrap, namespace,
                                          str(workdir / f"spool-{tag}-{i}"), stop, report), daemon=True)
        for i in range(0, cameras, per)
    ]
    with connect(db, autocommit=True) as conn:
        sizes_before = _table_sizes(conn)
    latency = _Latency(db, probes)
    latency.start()
    cpu_before = dict(watch.cpu)
    bus_before = bus.produced(raw_topics)
    windows_before = bus.produced(window_topics)
    counted_before = sum(_scrape(processors_port + i, "ioc_processors_events_in") for i in range(args.processor_workers))
    written_before = _scrape(sink_port, "ioc_sink_written_rows")
    slow_before, batches_before = _histogram_above(sink_port, "ioc_sink_batch_seconds", 1.0)
    for p in producers:
        p.start()
    watch.roots["agents"] = [p.pid for p in producers]
    started, wall_started = time.monotonic(), time.time()
    sent: dict[int, tuple[int, float, int]] = {}
    lags: list[tuple[float, int, int]] = []
    duration = args.minutes * 60
    while time.monotonic() - started < duration:
        time.sleep(2.0)
        while not report.empty():
            pid, n, behind, spooled = report.get()
            sent[pid] = (n, behind, spooled)
        watch.sample()
        # The processors' committed offsets stay behind on purpose (the first offset an open window
        # still needs), so their lag is the one they serve: read position to high watermark.
        lags.append((time.monotonic() - started, bus.lag(f"{namespace}-sink", raw_topics + window_topics),
                     int(sum(_scrape(processors_port + i, "ioc_processors_lag") for i in range(args.processor_workers)))))
        print(f"   t={lags[-1][0]:5.0f}s sent={sum(v[0] for v in sent.values()):,} lag sink={lags[-1][1]:,} "
              f"processors={lags[-1][2]:,}", flush=True)
    elapsed = time.monotonic() - started
    bus_in = bus.produced(raw_topics) - bus_before
    windows_out = bus.produced(window_topics) - windows_before
    counted = sum(_scrape(processors_port + i, "ioc_processors_events_in") for i in range(args.processor_workers)) - counted_before
    written = _scrape(sink_port, "ioc_sink_written_rows") - written_before
    stop.set()
    deadline = time.monotonic() + 60  # each flushes what it queued; one minute for all of them
    for p in producers:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
    for p in producers:
        if p.is_alive():  # still flushing a backlog: its events are counted as not delivered in time
            p.terminate()
            p.join()
    while not report.empty():
        pid, n, behind, spooled = report.get()
        sent[pid] = (n, behind, spooled)
    time.sleep(GRACE_S + 65)  # the last windows close and land (for their latency), the lag drains
    latency.stop.set()
    latency.join()
    with connect(db, autocommit=True) as conn:
        sizes_after = _table_sizes(conn)
    watch.sample()

    total_sent = sum(v[0] for v in sent.values())
    behind_max = max((v[1] for v in sent.values()), default=0.0)
    figure(f"city.{tag}.cameras", cameras, "cameras")
    figure(f"city.{tag}.agents_generated", total_sent / elapsed, "events/s")  # handed to the agents' KafkaSink
    figure(f"city.{tag}.bus_in", bus_in / elapsed, "events/s")
    figure(f"city.{tag}.processors_in", counted / elapsed, "events/s")
    figure(f"city.{tag}.processors_out", windows_out / elapsed, "windows+alerts/s")
    figure(f"city.{tag}.sink_rows_written", written / elapsed, "rows/s")
    figure(f"city.{tag}.agents_behind_max", behind_max, "s", "<= 1 (agents keep real time)")
    rows = list(latency.rows.values())
    windows = list(latency.windows.values())
    for name, values, target in (("event_to_row", rows, "<= 2"), ("window_end_to_row", windows, f"<= {GRACE_S + 2:g} (grace + 2 s)")):
        figure(f"city.{tag}.{name}_p50", _percentile(values, 0.5), "s")
        figure(f"city.{tag}.{name}_p99", _percentile(values, 0.99), "s", target)
        figure(f"city.{tag}.{name}_max", max(values, default=float("nan")), "s")
        figure(f"city.{tag}.{name}_samples", len(values), "rows")
    # The same by halves of the step: a tail that grows with the run (a broker slowing as it
    # fills) and one that is there from the start are different faults.
    middle = wall_started + elapsed / 2
    for name, measured in (("event_to_row", latency.rows), ("window_end_to_row", latency.windows)):
        first = [v for key, v in measured.items() if latency.seen_at[key] < middle]
        second = [v for key, v in measured.items() if latency.seen_at[key] >= middle]
        figure(f"city.{tag}.{name}_p99_first_half", _percentile(first, 0.99), "s")
        figure(f"city.{tag}.{name}_p99_second_half", _percentile(second, 0.99), "s")
    figure(f"city.{tag}.latency_longest_poll", latency.longest_poll, "s", f"(figures carry up to {POLL_S:g} s + this)")
    # Whether the tail is spread over the run or comes in stalls: the 10-s periods with a late row.
    late_at = [latency.seen_at[key] for key, value in latency.rows.items() if value > 2.0]
    stalls = sorted({int((at - wall_started) // 10) * 10 for at in late_at})
    print(f"   rows over 2 s late: {len(late_at)}, in {len(stalls)} 10-s periods, at t="
          + ",".join(f"{t}" for t in stalls[:30]), flush=True)
    figure(f"city.{tag}.periods_with_late_rows", len(stalls), "10-s periods")
    slow, batches = _histogram_above(sink_port, "ioc_sink_batch_seconds", 1.0)
    figure(f"city.{tag}.sink_batches_over_1s", slow - slow_before, f"of {batches - batches_before:,.0f} batches")
    rate = max(1.0, total_sent / elapsed)
    half = [lag for t, lag, _ in lags if t >= elapsed / 2]
    end_lag = lags[-1][1] if lags else 0
    figure(f"city.{tag}.sink_lag_max", max((lag for _, lag, _ in lags), default=0), "records")
    figure(f"city.{tag}.sink_lag_end", end_lag, "records", f"<= {2 * rate:,.0f} (2 s of traffic)")
    figure(f"city.{tag}.processors_lag_end", lags[-1][2] if lags else 0, "records", f"<= {2 * rate:,.0f} (2 s of traffic)")
    lag_growth = (sum(half[len(half) // 2 :]) / max(1, len(half[len(half) // 2 :])) - sum(half[: len(half) // 2]) / max(1, len(half[: len(half) // 2]))) if len(half) >= 4 else 0
    figure(f"city.{tag}.sink_lag_growth_second_half", lag_growth, "records", "about 0 (bounded)")
    _process_figures(tag, watch, cpu_before, elapsed, cameras, db)
    _size_figures(tag, sizes_before, sizes_after, cameras * elapsed / 86_400)
    p99_rows = _percentile(rows, 0.99)
    p99_windows = _percentile(windows, 0.99)
    keeps_up = end_lag <= 2 * rate and (lags[-1][2] if lags else 0) <= 2 * rate and behind_max <= 1.0
    within_targets = keeps_up and rows and p99_rows <= 2.0 and (not windows or p99_windows <= GRACE_S + 2.0)
    print(f"   load {tag}: {'keeps up' if keeps_up else 'does NOT keep up'} (real time, lag bounded); latency "
          f"{'within' if within_targets else 'NOT within'} its targets", flush=True)
    return keeps_up, bool(within_targets)


def _process_figures(tag: str, watch: _Watch, cpu_before: dict[int, float], elapsed: float, cameras: int, db) -> None:
    """CPU (cores) and memory (peak, growth from the step's middle to its end) of every process."""
    from ingest.db import connect

    by_role: dict[str, list[int]] = {}
    for pid, role in watch.role.items():
        by_role.setdefault(role, []).append(pid)
    for role, pids in sorted(by_role.items()):
        for n, pid in enumerate(sorted(p for p in pids if p in watch.cpu)):
            used = watch.cpu[pid] - cpu_before.get(pid, 0.0)
            if used < 0.05:
                continue
            figure(f"city.{tag}.cpu.{role}.{n}", used / elapsed, "cores")
            samples = watch.rss.get(pid, [])
            figure(f"city.{tag}.peak_memory.{role}.{n}", watch.peak.get(pid, 0) / 1024, "MiB")
            if len(samples) >= 4:
                middle, last = samples[len(samples) // 2], samples[-1]
                # The local broker keeps every record in memory: it grows by design.
                target = "grows with the records it keeps" if role == "broker" else "about 0 (flat)"
                figure(f"city.{tag}.memory_growth.{role}.{n}", (last - middle) / 1024, "MiB", target)
    agents_cpu = sum(watch.cpu.get(pid, 0.0) - cpu_before.get(pid, 0.0) for pid in by_role.get("agents", []))
    if agents_cpu:
        figure(f"city.{tag}.cameras_per_agent_core", cameras * elapsed / agents_cpu, "cameras")
    with connect(db, autocommit=True) as conn:
        backends = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    db_cpu = sum(_cpu_s(pid) for pid in backends)
    if db_cpu:
        figure(f"city.{tag}.cpu.database_backends_total_so_far", db_cpu, "s")


def _size_figures(tag: str, sizes_before: dict[str, int], sizes_after: dict[str, int], camera_days: float) -> None:
    for table in sorted(sizes_after):
        grown = sizes_after[table] - sizes_before.get(table, 0)
        if grown > 0:
            figure(f"city.{tag}.bytes_per_camera_day.{table}", grown / camera_days / 1e6, "MB")


if __name__ == "__main__":
    main(sys.argv[1:])
