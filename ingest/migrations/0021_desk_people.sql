-- Desk users, their sessions and API tokens, login throttling, the audit trail and the outbox of
-- actions on their way to the bus. Secrets are stored as hashes only (argon2 for passwords,
-- SHA-256 for random session and API tokens, which carry 256 bits and need no slow hash).

CREATE TABLE desk_users (
    name           text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash  text NOT NULL,
    -- empty: provincial (sees every district)
    districts      text[] NOT NULL DEFAULT '{}',
    lang           text NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi', 'en')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE desk_sessions (
    token_hash  bytea PRIMARY KEY,
    user_name   text NOT NULL REFERENCES desk_users (name) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ON desk_sessions (expires_at);

CREATE TABLE desk_api_tokens (
    token_hash  bytea PRIMARY KEY,
    user_name   text NOT NULL REFERENCES desk_users (name) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz
);

-- Failed logins, per user name and per address: the throttle reads the recent ones.
CREATE TABLE desk_login_failures (
    at         timestamptz NOT NULL DEFAULT now(),
    user_name  text NOT NULL,
    address    text NOT NULL
);
CREATE INDEX ON desk_login_failures (user_name, at DESC);
CREATE INDEX ON desk_login_failures (address, at DESC);

-- Append-only: who did what, when, with which note, from which address.
CREATE TABLE desk_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    address    text,
    action     text NOT NULL,
    alert_id   text,
    camera_id  text,
    note       text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON desk_audit (at DESC);
CREATE INDEX ON desk_audit (alert_id, at DESC);

CREATE FUNCTION desk_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'desk_audit is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER desk_audit_append_only BEFORE UPDATE OR DELETE ON desk_audit
    FOR EACH ROW EXECUTE FUNCTION desk_audit_is_append_only();
CREATE TRIGGER desk_audit_no_truncate BEFORE TRUNCATE ON desk_audit
    FOR EACH STATEMENT EXECUTE FUNCTION desk_audit_is_append_only();

-- Every AlertAction is written here in the same transaction as its audit row, then published;
-- one the broker did not take stays 'pending' with its error and is retried, never dropped.
CREATE TABLE desk_outbox (
    event_id    text PRIMARY KEY,
    alert_id    text NOT NULL,
    camera_id   text NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    payload     bytea NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX ON desk_outbox (status, created_at) WHERE status = 'pending';
CREATE INDEX ON desk_outbox (alert_id, created_at DESC);
