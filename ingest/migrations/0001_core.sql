-- Core schema: a cameras registry and one hypertable per event kind of the contract (ingest/contract.py).
-- Every event table carries the contract's event_id; UNIQUE (event_id, ts) makes a replayed event
-- a no-op (a hypertable's unique index must include its time column, and ts never changes on replay).
-- Window tables are keyed by their natural key instead, so a window emitted twice overwrites.
-- Chunk intervals: one chunk should hold roughly a day's hot data for a few hundred cameras and
-- fit in memory with its indexes; frame events are the bulkiest, alerts the thinnest.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE cameras (
    camera_id   text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('traffic', 'security')),
    lat         double precision,
    lon         double precision,
    lines       jsonb NOT NULL DEFAULT '[]',
    zones       jsonb NOT NULL DEFAULT '[]',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE frame_events (
    ts           timestamptz NOT NULL,
    camera_id    text NOT NULL,
    event_id     text NOT NULL,
    frame_no     bigint NOT NULL,
    width        integer NOT NULL,
    height       integer NOT NULL,
    object_count integer NOT NULL,
    objects      jsonb NOT NULL,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('frame_events', 'ts', chunk_time_interval => interval '6 hours');
CREATE INDEX ON frame_events (camera_id, ts DESC);

CREATE TABLE crossings (
    ts         timestamptz NOT NULL,
    camera_id  text NOT NULL,
    event_id   text NOT NULL,
    frame_no   bigint NOT NULL,
    line_id    text NOT NULL,
    direction  text NOT NULL,
    cls        text NOT NULL,
    track_id   bigint NOT NULL,
    speed_kmh  real,
    wrong_way  boolean NOT NULL DEFAULT false,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('crossings', 'ts', chunk_time_interval => interval '1 day');
CREATE INDEX ON crossings (camera_id, line_id, ts DESC);

CREATE TABLE zone_occupancy (
    ts         timestamptz NOT NULL,
    camera_id  text NOT NULL,
    event_id   text NOT NULL,
    frame_no   bigint NOT NULL,
    zone_id    text NOT NULL,
    count      integer NOT NULL,
    by_class   jsonb NOT NULL DEFAULT '{}',
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('zone_occupancy', 'ts', chunk_time_interval => interval '1 day');
CREATE INDEX ON zone_occupancy (camera_id, zone_id, ts DESC);

CREATE TABLE incidents (
    ts          timestamptz NOT NULL,
    camera_id   text NOT NULL,
    event_id    text NOT NULL,
    frame_no    bigint NOT NULL,
    kind        text NOT NULL,
    track_id    bigint NOT NULL,
    cls         text NOT NULL,
    zone_id     text,
    line_id     text,
    duration_s  real NOT NULL,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('incidents', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX ON incidents (camera_id, ts DESC);

CREATE TABLE camera_health (
    ts         timestamptz NOT NULL,
    camera_id  text NOT NULL,
    event_id   text NOT NULL,
    condition  text NOT NULL,
    state      text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('camera_health', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX ON camera_health (camera_id, ts DESC);

CREATE TABLE heartbeats (
    ts         timestamptz NOT NULL,
    camera_id  text NOT NULL,
    event_id   text NOT NULL,
    fps        real NOT NULL,
    frames     bigint NOT NULL,
    uptime_s   double precision NOT NULL,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('heartbeats', 'ts', chunk_time_interval => interval '1 day');
CREATE INDEX ON heartbeats (camera_id, ts DESC);

CREATE TABLE count_windows (
    ts              timestamptz NOT NULL,  -- window start
    camera_id       text NOT NULL,
    line_id         text NOT NULL,
    direction       text NOT NULL,
    cls             text NOT NULL,
    window_s        integer NOT NULL,
    count           integer NOT NULL,
    speed_mean_kmh  real,
    speed_p85_kmh   real,
    event_id        text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, line_id, direction, cls, window_s, ts)
);
SELECT create_hypertable('count_windows', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX ON count_windows (ts DESC);

CREATE TABLE occupancy_windows (
    ts          timestamptz NOT NULL,  -- window start
    camera_id   text NOT NULL,
    zone_id     text NOT NULL,
    window_s    integer NOT NULL,
    peak        integer NOT NULL,
    mean        real NOT NULL,
    event_id    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, zone_id, window_s, ts)
);
SELECT create_hypertable('occupancy_windows', 'ts', chunk_time_interval => interval '7 days');

-- Alerts: every step of every episode (history), one row per event.
CREATE TABLE alert_events (
    ts          timestamptz NOT NULL,
    camera_id   text NOT NULL,
    event_id    text NOT NULL,
    alert_id    text NOT NULL,
    group_key   text NOT NULL,
    rule        text NOT NULL,
    severity    text NOT NULL,
    state       text NOT NULL,
    opened_at   timestamptz NOT NULL,
    title       text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('alert_events', 'ts', chunk_time_interval => interval '30 days');
CREATE INDEX ON alert_events (alert_id, ts DESC);

CREATE TABLE alert_actions (
    ts             timestamptz NOT NULL,
    camera_id      text NOT NULL,
    event_id       text NOT NULL,
    alert_id       text NOT NULL,
    action         text NOT NULL,
    actor          text NOT NULL,
    note           text NOT NULL DEFAULT '',
    rule           text,
    silence_until  timestamptz,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('alert_actions', 'ts', chunk_time_interval => interval '30 days');
CREATE INDEX ON alert_actions (alert_id, ts DESC);
