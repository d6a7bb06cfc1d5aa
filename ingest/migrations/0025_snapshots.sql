-- Evidence snapshots: one JPEG (faces and plates blurred by the agent) per incident, crowd or
-- camera-health condition an agent saw. trigger_event_id is the event_id of the event it shows;
-- an alert opened by that event carries it in details->>'evidence_id'. Kept apart from the
-- alerts (bytea rows of ~50 KB would bloat the alert tables) with its own retention.
CREATE TABLE snapshots (
    ts                timestamptz NOT NULL,
    camera_id         text NOT NULL,
    event_id          text NOT NULL,
    trigger_event_id  text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('incident', 'crowd', 'health')),
    subject           text NOT NULL,
    width             integer NOT NULL CHECK (width > 0),
    height            integer NOT NULL CHECK (height > 0),
    jpeg              bytea NOT NULL CHECK (octet_length(jpeg) > 0),
    boxes             jsonb NOT NULL DEFAULT '[]',
    blurred           integer NOT NULL DEFAULT 0,
    UNIQUE (event_id, ts)
);
-- Evidence is thin (a few pictures per camera per day): weekly chunks.
SELECT create_hypertable('snapshots', 'ts', chunk_time_interval => interval '7 days');
CREATE INDEX ON snapshots (trigger_event_id);
CREATE INDEX ON snapshots (camera_id, ts DESC);
