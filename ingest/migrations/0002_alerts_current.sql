-- Each alert's current state, one row per episode, so the wall and the alert desk read it without
-- scanning the history in alert_events. The writer upserts it from Alert events, newest step wins.
CREATE TABLE alerts (
    alert_id    text PRIMARY KEY,
    camera_id   text NOT NULL,
    group_key   text NOT NULL,
    rule        text NOT NULL,
    severity    text NOT NULL,
    state       text NOT NULL,
    opened_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    title       text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON alerts (state, updated_at DESC);
CREATE INDEX ON alerts (camera_id, updated_at DESC);
