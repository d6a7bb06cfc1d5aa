-- The wall's Planning dashboard reads V50 / V85 from the speed histograms (0035), so the wall's
-- read-only role ioc_grafana (0030) may SELECT them, and nothing more.
--
-- Only grants: they are per database (stored on the relations), so databases of one cluster
-- migrating at once do not contend, and GRANT again is a no-op. The role itself is cluster-wide and
-- was created by 0030, which every database runs before this; its settings are not touched here
-- (two databases altering one role at once fail with "tuple concurrently updated").
-- The same statement serves ioc's own tables (Debian's Apache build) and the continuous aggregates
-- 0036 makes on the official image: a view's reader needs SELECT on the view only, and TimescaleDB
-- passes a hypertable's grants on to its chunks, present and future. speed_percentile() and
-- speed_hist_bins() are executable by every role, as PostgreSQL functions are by default.

GRANT SELECT ON speed_hourly, speed_daily TO ioc_grafana;
