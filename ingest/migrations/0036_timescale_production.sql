-- Production TimescaleDB (the official image, community licence: timescaledb.license = 'timescale'):
-- speed histograms as continuous aggregates, and compression on the big hypertables. On the
-- Apache build (Debian's, the local stack) this is a no-op that says so in a notice. Written to be
-- run again safely: every step checks what is already there.

DO $migration$
DECLARE
    spec record;
BEGIN
    IF current_setting('timescaledb.license', true) IS DISTINCT FROM 'timescale' THEN
        RAISE NOTICE 'timescaledb.license is %, not timescale: speed rollups stay ioc''s own tables and no compression policy is set',
            coalesce(current_setting('timescaledb.license', true), 'unset');
        RETURN;
    END IF;

    -- 1. Speed histograms as continuous aggregates over the crossings, beside 0010's traffic ones
    -- (same mode, so one refresh path serves both). Only while the own-mode tables are still empty:
    -- histograms already built are kept, never dropped for a mode change (ioc refreshes per rollup,
    -- whichever mode each one is in).
    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = 'speed_hourly')
       AND EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = 'traffic_hourly')
       AND NOT EXISTS (SELECT 1 FROM speed_hourly) THEN
        BEGIN
            DROP TRIGGER IF EXISTS crossings_speed_dirty_insert ON crossings;
            DROP TRIGGER IF EXISTS crossings_speed_dirty_update ON crossings;
            DROP TRIGGER IF EXISTS crossings_speed_dirty_delete ON crossings;
            DROP TABLE speed_daily, speed_hourly, speed_dirty;
            EXECUTE $sql$
                CREATE MATERIALIZED VIEW speed_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket('1 hour', ts) AS bucket, camera_id, line_id, direction, cls,
                       sum(speed_hist_unit(speed_bin(speed_kmh), 1)) AS speed_hist
                FROM crossings WHERE speed_kmh IS NOT NULL
                GROUP BY 1, 2, 3, 4, 5 WITH NO DATA $sql$;
            EXECUTE $sql$
                CREATE MATERIALIZED VIEW speed_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                SELECT time_bucket('1 day', bucket, 'Asia/Ho_Chi_Minh') AS bucket, camera_id, line_id, direction, cls,
                       sum(speed_hist) AS speed_hist
                FROM speed_hourly GROUP BY 1, 2, 3, 4, 5 WITH NO DATA $sql$;
            -- Inside the crossings' retention (180 days by default): a refresh over dropped raw
            -- rows would empty the histograms there (see 0011 for the same rule on windows).
            PERFORM add_continuous_aggregate_policy('speed_hourly', start_offset => interval '170 days',
                end_offset => interval '1 hour', schedule_interval => interval '5 minutes');
            PERFORM add_continuous_aggregate_policy('speed_daily', start_offset => interval '170 days',
                end_offset => interval '1 day', schedule_interval => interval '1 hour');
        EXCEPTION WHEN others THEN
            RAISE WARNING 'speed histograms as continuous aggregates unavailable (%); they stay ioc''s own tables', SQLERRM;
        END;
    END IF;

    -- 2. Compression of closed chunks: raw event tables are append-mostly and read by camera and
    -- time, so segment by camera (and the window key for count windows) and order by time. The
    -- unique keys' columns are all in segmentby / orderby, which late inserts and replays into a
    -- compressed chunk need. A table that still carries ioc's own rollup triggers (statement
    -- triggers with transition tables) is left uncompressed: TimescaleDB does not run those on
    -- compressed hypertables.
    FOR spec IN
        SELECT * FROM (VALUES
            ('frame_events',   'camera_id',                                   'ts DESC, event_id', interval '1 day'),
            ('heartbeats',     'camera_id',                                   'ts DESC, event_id', interval '2 days'),
            ('crossings',      'camera_id',                                   'ts DESC, event_id', interval '7 days'),
            ('zone_occupancy', 'camera_id',                                   'ts DESC, event_id', interval '7 days'),
            ('count_windows',  'camera_id, line_id, direction, cls, window_s', 'ts DESC',          interval '14 days')
        ) AS t(hypertable, segment_by, order_by, after)
    LOOP
        IF EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = spec.hypertable::regclass AND NOT tgisinternal
                     AND (tgoldtable IS NOT NULL OR tgnewtable IS NOT NULL)) THEN
            RAISE NOTICE '% keeps rollup triggers: not compressed', spec.hypertable;
            CONTINUE;
        END IF;
        IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = spec.hypertable) THEN
            EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                           spec.hypertable, spec.segment_by, spec.order_by);
        END IF;
        PERFORM add_compression_policy(spec.hypertable, spec.after, if_not_exists => true);
    END LOOP;
END
$migration$;
