-- Continuous-aggregate mode only (timescaledb.license = 'timescale'); a no-op on the Apache build.
-- Migration 0010's refresh policies covered all time (start_offset NULL). Once retention drops raw
-- count_windows chunks, refreshing a region whose raw rows are gone would empty the rollup there.
-- Keep the policies' window inside the raw retention (count_windows keeps 400 days by default,
-- so 390 days; if you shorten that retention, shorten this window too). Manual refreshes
-- (`ioc db maintain`) start at warehouse_config.raw_horizon for the same reason.
DO $migration$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = 'traffic_hourly') THEN
        RETURN;
    END IF;
    PERFORM remove_continuous_aggregate_policy('traffic_hourly', if_exists => true);
    PERFORM remove_continuous_aggregate_policy('traffic_daily', if_exists => true);
    PERFORM add_continuous_aggregate_policy('traffic_hourly', start_offset => interval '390 days',
        end_offset => interval '1 hour', schedule_interval => interval '5 minutes');
    PERFORM add_continuous_aggregate_policy('traffic_daily', start_offset => interval '390 days',
        end_offset => interval '1 day', schedule_interval => interval '1 hour');
END
$migration$;
