-- The alert desk: every camera belongs to a district (locality), and an alert's current state
-- carries what operators did with it (acknowledged, resolved with a code, escalated), as the
-- processors publish it in each Alert step. The history keeps the same columns per step.

ALTER TABLE cameras ADD COLUMN IF NOT EXISTS district text;
CREATE INDEX IF NOT EXISTS cameras_district_idx ON cameras (district);

ALTER TABLE alerts
    ADD COLUMN acknowledged_by text,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN resolved_by     text,
    ADD COLUMN resolution      text CHECK (resolution IN ('handled', 'false_alarm', 'duplicate', 'other')),
    ADD COLUMN escalated_at    timestamptz;

ALTER TABLE alert_events
    ADD COLUMN acknowledged_by text,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN resolved_by     text,
    ADD COLUMN resolution      text,
    ADD COLUMN escalated_at    timestamptz;

ALTER TABLE alert_actions ADD COLUMN resolution text;
