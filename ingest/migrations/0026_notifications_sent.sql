-- What the notifier sent, one row per route and notification (an alert's opening, escalation or
-- resolution). The primary key is the idempotence: a notification whose row says 'sent' is never
-- sent again, whatever the notifier re-reads after a restart or a rebalance. A row is claimed
-- ('sending') before the first attempt, so a crash in the middle of a delivery is visible.
CREATE TABLE notifications_sent (
    route             text NOT NULL,
    notification_key  text NOT NULL,
    alert_id          text NOT NULL,
    camera_id         text NOT NULL,
    rule              text NOT NULL,
    transition        text NOT NULL CHECK (transition IN ('open', 'escalated', 'resolved')),
    severity          text NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('webhook', 'email', 'telegram')),
    status            text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    PRIMARY KEY (route, notification_key)
);
CREATE INDEX ON notifications_sent (alert_id);
CREATE INDEX ON notifications_sent (created_at);
