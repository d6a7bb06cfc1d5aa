-- Frame events in compact typed columns instead of one JSON document per row.
--
-- A frame's tracked objects become parallel arrays, element i of each describing object i:
--   track_ids    int4[]   the tracker's id
--   classes      int2[]   index into object_classes (the contract's OBJECT_CLASSES, in its order)
--   boxes        int2[]   x1, y1, x2, y2 of each object, 4 values per object, whole pixels of the analysed frame
--   confidences  real[]
--   speeds_kmh   real[]   NULL where the speed is not measured
-- JSON stored every key of every object again (~1.4 KB a row for a few objects); arrays store the
-- numbers only. Boxes lose their tenth of a pixel (rounded half to even, as the writer does), which no
-- reader uses.
--
-- One unique key (camera_id, ts, event_id) replaces the two indexes of 0001 (event_id, ts unique
-- and camera_id, ts): a replayed event still conflicts on it (so replays stay no-ops), and reads by
-- camera and time use its prefix. One index less is ~50 bytes a row less.
--
-- Existing rows are carried over: the table is rebuilt (a fresh table, not an UPDATE in place,
-- which would leave every old row behind as dead space until a VACUUM FULL). Compressed chunks
-- (official image, 0036) are decompressed first; 0046 sets compression up again for this layout.

CREATE TABLE object_classes (
    code  smallint PRIMARY KEY,
    cls   text NOT NULL UNIQUE
);
INSERT INTO object_classes (code, cls) VALUES
    (0, 'person'), (1, 'bicycle'), (2, 'motorbike'), (3, 'car'), (4, 'bus_truck'), (5, 'unknown');

DO $decompress$
BEGIN
    IF (SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'frame_events') THEN
        PERFORM decompress_chunk(chunk, if_compressed => true) FROM show_chunks('frame_events') AS chunk;
        PERFORM remove_compression_policy('frame_events', if_exists => true);
    END IF;
END
$decompress$;

CREATE TABLE frame_events_compact (
    ts            timestamptz NOT NULL,
    frame_no      bigint NOT NULL,
    camera_id     text NOT NULL,
    event_id      text NOT NULL,
    width         smallint NOT NULL,
    height        smallint NOT NULL,
    object_count  smallint NOT NULL,
    track_ids     int4[] NOT NULL DEFAULT '{}',
    classes       int2[] NOT NULL DEFAULT '{}',
    boxes         int2[] NOT NULL DEFAULT '{}',
    confidences   real[] NOT NULL DEFAULT '{}',
    speeds_kmh    real[] NOT NULL DEFAULT '{}',
    CONSTRAINT frame_events_key UNIQUE (camera_id, ts, event_id),
    CONSTRAINT frame_events_boxes_per_object CHECK (cardinality(boxes) = 4 * cardinality(track_ids))
);
SELECT create_hypertable('frame_events_compact', 'ts', chunk_time_interval => interval '6 hours');

INSERT INTO frame_events_compact
    (ts, frame_no, camera_id, event_id, width, height, object_count, track_ids, classes, boxes, confidences, speeds_kmh)
SELECT f.ts, f.frame_no, f.camera_id, f.event_id, f.width, f.height, f.object_count,
       coalesce(o.track_ids, '{}'), coalesce(o.classes, '{}'), coalesce(o.boxes, '{}'),
       coalesce(o.confidences, '{}'), coalesce(o.speeds_kmh, '{}')
FROM frame_events AS f
LEFT JOIN LATERAL (
    SELECT array_agg((obj ->> 'track_id')::int4 ORDER BY i) AS track_ids,
           array_agg(coalesce(k.code, 5) ORDER BY i) AS classes,
           array_agg((obj ->> 'confidence')::real ORDER BY i) AS confidences,
           array_agg((obj ->> 'speed_kmh')::real ORDER BY i) AS speeds_kmh,
           (SELECT array_agg(round((b.v)::float8)::int2 ORDER BY o2.i, b.j)
            FROM jsonb_array_elements(f.objects) WITH ORDINALITY AS o2(obj2, i),
                 jsonb_array_elements_text(o2.obj2 -> 'bbox') WITH ORDINALITY AS b(v, j)) AS boxes
    FROM jsonb_array_elements(f.objects) WITH ORDINALITY AS e(obj, i)
    LEFT JOIN object_classes AS k ON k.cls = e.obj ->> 'cls'
) AS o ON true;

DROP TABLE frame_events;
ALTER TABLE frame_events_compact RENAME TO frame_events;
