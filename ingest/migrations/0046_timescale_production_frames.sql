-- Production TimescaleDB (official image, timescaledb.license = 'timescale'): compression of the
-- compact frame_events of 0045, which replaced the table 0036 had set up. On the Apache build
-- (Debian's, the local stack) a no-op that says so in a notice.
--
-- Segment by camera (reads are by camera and time, and a camera's arrays repeat from one frame to
-- the next: the same track ids, classes and nearly the same boxes); order by time, so ts and
-- frame_no delta-encode to a few bits a row. The unique key's columns are all in segmentby /
-- orderby, which late inserts and replays into a compressed chunk need. Compressed after 6 hours:
-- the frames of the last hours are the ones live investigations read and a late agent still sends.

DO $migration$
BEGIN
    IF current_setting('timescaledb.license', true) IS DISTINCT FROM 'timescale' THEN
        RAISE NOTICE 'timescaledb.license is %, not timescale: frame_events stays uncompressed',
            coalesce(current_setting('timescaledb.license', true), 'unset');
        RETURN;
    END IF;
    IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'frame_events') THEN
        ALTER TABLE frame_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',
                                      timescaledb.compress_orderby = 'ts DESC, event_id');
    END IF;
    PERFORM add_compression_policy('frame_events', interval '6 hours', if_not_exists => true);
END
$migration$;
