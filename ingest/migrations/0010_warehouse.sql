-- The planners' warehouse: hourly and daily traffic rollups, kept correct under late and replayed data.
--
-- Source: count_windows (the processors' per line x direction x class windows; the sink overwrites a
-- window replayed with the same natural key). Not crossings: one row per object is ~40k rows per
-- camera-day on a busy street, kept months; windows are the compact, already deduplicated form that
-- both live processors and `ioc db backfill` produce. Windows of any length that divides an hour are
-- summed (60 s live, 900 s backfill); one camera must not carry two window lengths for one period.
--
-- Speed: a window carries its mean and 85th percentile, and percentiles do not add up. So each
-- window is summarised as moments of a normal distribution (sd = (p85 - mean) / z85, z85 = 1.0364,
-- the textbook spot-speed assumption) and rollups keep n, sum(x) and sum(x^2): these add exactly
-- across windows, hours, days and cameras, the mean and spread of any roll-up are exact, and p50 / p85
-- of a roll-up are read as mean and mean + z85 * sd.
--
-- Hours are UTC hours (equal to local hours in whole-hour time zones such as Asia/Ho_Chi_Minh);
-- days are local days of warehouse_config.timezone, because a planner's "Monday" is local.

CREATE VIEW count_window_moments AS
SELECT ts, camera_id, line_id, direction, cls, window_s,
       count::bigint AS volume,
       CASE WHEN speed_mean_kmh IS NULL THEN 0 ELSE count END::bigint AS speed_n,
       CASE WHEN speed_mean_kmh IS NULL THEN 0 ELSE count * speed_mean_kmh::float8 END AS speed_sum,
       CASE WHEN speed_mean_kmh IS NULL THEN 0
            ELSE count * (speed_mean_kmh::float8 ^ 2
                          + (greatest(coalesce(speed_p85_kmh, speed_mean_kmh) - speed_mean_kmh, 0)::float8 / 1.0364) ^ 2)
       END AS speed_sq_sum
FROM count_windows
WHERE 3600 % window_s = 0;

-- Chunks: a year of 100 cameras x ~10 line/direction/class series is ~9M hourly rows; 30-day
-- chunks (~700k rows, ~100 MB with indexes) keep a month's report inside one or two chunks and let
-- retention drop a month at a time. Daily rows are 24x fewer: one chunk a year.
-- Index: the primary key leads with camera_id then bucket, the access path of every per-camera
-- report ("one camera over a year"); all-camera reports over a period scan the period's chunks,
-- helped by the bucket index.
CREATE TABLE traffic_hourly (
    bucket        timestamptz NOT NULL,
    camera_id     text NOT NULL,
    line_id       text NOT NULL,
    direction     text NOT NULL,
    cls           text NOT NULL,
    volume        bigint NOT NULL,
    speed_n       bigint NOT NULL,
    speed_sum     double precision NOT NULL,
    speed_sq_sum  double precision NOT NULL,
    PRIMARY KEY (camera_id, bucket, line_id, direction, cls)
);
SELECT create_hypertable('traffic_hourly', 'bucket', chunk_time_interval => interval '30 days');
CREATE INDEX ON traffic_hourly (bucket DESC);

CREATE TABLE traffic_daily (LIKE traffic_hourly INCLUDING ALL);
SELECT create_hypertable('traffic_daily', 'bucket', chunk_time_interval => interval '365 days');
CREATE INDEX ON traffic_daily (bucket DESC);

-- One row of settings that belong to the stored data rather than to a process: the time zone of
-- the daily buckets, and how far back raw windows are complete (retention moves it; the refresh
-- never recomputes an hour whose raw windows were partly dropped, it keeps the rollup as it was).
CREATE TABLE warehouse_config (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    timezone     text NOT NULL DEFAULT 'Asia/Ho_Chi_Minh',
    raw_horizon  timestamptz
);
INSERT INTO warehouse_config DEFAULT VALUES;

-- Which hours need recomputing. A statement-level trigger (with transition tables, so one COPY or
-- upsert of 100k windows costs one INSERT of its few distinct camera-hours) appends to this log.
-- Append-only on purpose, no unique key: with "INSERT ... ON CONFLICT DO NOTHING" a writer that
-- finds the mark already there would rely on a row the refresh may delete before the writer
-- commits, and its data would be missed. Here every writing transaction owns its marks; the refresh
-- deletes only marks it can see (committed), then reads the windows in a later snapshot that
-- includes everything those marks stand for. Marks of transactions still running survive for the
-- next refresh. Replays that overwrite a window fire the UPDATE trigger; deletes mark too.
-- drop_chunks fires no trigger, so retention of raw windows leaves the rollups alone.
CREATE TABLE warehouse_dirty (
    camera_id  text NOT NULL,
    hour       timestamptz NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION warehouse_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO warehouse_dirty (camera_id, hour)
        SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM new_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO warehouse_dirty (camera_id, hour)
        SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER count_windows_dirty_insert AFTER INSERT ON count_windows
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION warehouse_mark_dirty();
CREATE TRIGGER count_windows_dirty_update AFTER UPDATE ON count_windows
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION warehouse_mark_dirty();
CREATE TRIGGER count_windows_dirty_delete AFTER DELETE ON count_windows
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION warehouse_mark_dirty();

-- Where the licence allows (the official image: timescaledb.license = 'timescale'), TimescaleDB
-- keeps the rollups itself: continuous aggregates track invalidations (late and replayed rows) and a
-- policy refreshes them. Same names and columns, so reports do not care which mode runs. If anything
-- here fails, the block rolls back to the tables above and says so.
DO $migration$
BEGIN
    IF current_setting('timescaledb.license', true) IS DISTINCT FROM 'timescale' THEN
        RETURN;
    END IF;
    BEGIN
        DROP TRIGGER count_windows_dirty_insert ON count_windows;
        DROP TRIGGER count_windows_dirty_update ON count_windows;
        DROP TRIGGER count_windows_dirty_delete ON count_windows;
        DROP TABLE traffic_daily, traffic_hourly, warehouse_dirty;
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW traffic_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket('1 hour', ts) AS bucket, camera_id, line_id, direction, cls,
                   sum(count)::bigint AS volume,
                   coalesce(sum(count) FILTER (WHERE speed_mean_kmh IS NOT NULL), 0)::bigint AS speed_n,
                   coalesce(sum(count * speed_mean_kmh::float8), 0) AS speed_sum,
                   coalesce(sum(count * (speed_mean_kmh::float8 ^ 2
                       + (greatest(coalesce(speed_p85_kmh, speed_mean_kmh) - speed_mean_kmh, 0)::float8 / 1.0364) ^ 2)), 0) AS speed_sq_sum
            FROM count_windows WHERE 3600 % window_s = 0
            GROUP BY 1, 2, 3, 4, 5 WITH NO DATA $sql$;
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW traffic_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket('1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket, camera_id, line_id, direction, cls,
                   sum(volume)::bigint AS volume, sum(speed_n)::bigint AS speed_n,
                   sum(speed_sum) AS speed_sum, sum(speed_sq_sum) AS speed_sq_sum
            FROM traffic_hourly GROUP BY 1, 2, 3, 4, 5 WITH NO DATA $sql$;
        PERFORM add_continuous_aggregate_policy('traffic_hourly', start_offset => NULL,
            end_offset => interval '1 hour', schedule_interval => interval '5 minutes');
        PERFORM add_continuous_aggregate_policy('traffic_daily', start_offset => NULL,
            end_offset => interval '1 day', schedule_interval => interval '1 hour');
    EXCEPTION WHEN others THEN
        RAISE WARNING 'continuous aggregates unavailable (%); the rollups fall back to ioc''s own refresh', SQLERRM;
    END;
END
$migration$;
