-- The Grafana wall reads TimescaleDB as its own role, ioc_grafana, which may only SELECT what the
-- dashboards show: a panel (or anyone holding Grafana's datasource password) cannot change data,
-- read tables the wall does not use, or hold the database with a runaway query.
--
-- Roles belong to the whole cluster, not to one database, and every database of the cluster runs
-- this migration (tests create many). So the role is created only if missing, and a concurrent
-- creation by another database's migration is tolerated.
-- Grants are per database and run every time. The role has no password here: the deployment sets
-- one (`ioc dashboards reader-password`), see dashboards/grafana/README.md.

-- Cameras are grouped by district on the wall (vehicles per district) and in the alert desk.
ALTER TABLE cameras ADD COLUMN IF NOT EXISTS district text;

-- Role settings are set by the migration that creates the role, in the same step: two databases
-- altering one role at once would fail ("tuple concurrently updated"), while a concurrent
-- CREATE ROLE waits for the first and then finds the role there.
DO $migration$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        BEGIN
            CREATE ROLE ioc_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
            ALTER ROLE ioc_grafana SET default_transaction_read_only = on;
            ALTER ROLE ioc_grafana SET statement_timeout = '30s';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by the migration of another database of this cluster
        END;
    END IF;
END
$migration$;

DO $migration$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ioc_grafana', current_database());
END
$migration$;
GRANT USAGE ON SCHEMA public TO ioc_grafana;
-- Exactly the relations the panels read (dashboards/grafana/queries.py); TimescaleDB passes a
-- hypertable's grants on to its chunks, present and future.
GRANT SELECT ON cameras, heartbeats, camera_health, crossings, zone_occupancy, count_windows,
    alerts, alert_actions, traffic_hourly, traffic_daily TO ioc_grafana;
