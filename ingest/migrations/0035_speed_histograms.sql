-- Measured speed percentiles: hourly and daily speed histograms, fed from the crossings.
--
-- Why crossings: they are the only place speeds are exact (one speed per vehicle). A count window
-- carries its mean and 85th percentile, and percentiles do not add up across windows, hours or
-- cameras; 0010 therefore read p50 / p85 of a roll-up from a normal model (mean + 1.0364 sd), which
-- is wrong for skewed, motorbike-heavy or congested traffic. A histogram with fixed bins adds up
-- exactly, so V50 / V85 of any roll-up are read from the merged histogram, to within one bin.
--
-- Bins: 2 km/h wide, bin b (0..59) holds speeds in [2b, 2b + 2) km/h, bin 60 holds 120 km/h and
-- over (negative speeds go to bin 0). A histogram is stored packed in one numeric: bin b's count
-- sits in decimal digits 12b .. 12b + 11 (counted from the units digit). Why packed: sum() of
-- numerics adds every bin at once, exactly (a bin overflows only past 10^12 vehicles), in one
-- native addition per row; summing 61 array elements costs ~60 executor steps per row, which made
-- a year's hourly report five times slower. speed_hist_bins() unpacks, speed_percentile() reads.
--
-- The speed rollups sit beside traffic_hourly / traffic_daily with the same buckets and keys
-- (camera, line, direction, class), because their source and retention differ: crossings are kept
-- 180 days, count windows 400. Rows exist only where crossings had speeds: history older than the
-- crossings (and synthetic backfills, which write windows only) has volumes and moments but no
-- histogram, and reports fall back to the moments' model there, saying so.

CREATE FUNCTION speed_bin(speed_kmh double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT least(greatest(floor(speed_kmh / 2), 0), 60)::integer $$;

-- n vehicles in bin b, as a packed histogram.
CREATE FUNCTION speed_hist_unit(bin integer, n bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT n * trunc(10::numeric ^ (12 * bin)) $$;

-- The 61 bin counts of a packed histogram (bin 0 first); NULL for NULL.
CREATE FUNCTION speed_hist_bins(hist numeric) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN hist IS NOT NULL THEN ARRAY(
       SELECT substr(digits, 732 - 12 * b - 11, 12)::bigint
       FROM (SELECT lpad(trunc(hist)::text, 732, '0') AS digits) d, generate_series(0, 60) AS b
       ORDER BY b) END $$;

-- The p-th quantile (0 <= p <= 1) of a packed histogram in km/h, interpolated linearly inside its
-- bin (120 for the open top bin); NULL when the histogram is empty. Grafana panels merge first:
--   speed_percentile(sum(speed_hist), 0.85)
-- Read with numeric arithmetic rather than by unpacking: since 10^12 = 1 (mod 10^12 - 1), a packed
-- histogram mod 999999999999 is the sum of its bins (the vehicles, always fewer than 10^12), and
-- the same of hist mod 10^(12 (b + 1)) counts bins 0..b. A binary search over b then needs about
-- six of those, where unpacking parses 61 bins: 30x faster on a year of hourly buckets.
CREATE FUNCTION speed_percentile(hist numeric, p double precision) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    nines   CONSTANT numeric := 999999999999;
    total   numeric;
    target  numeric;
    wanted  numeric;
    lo      integer := 0;
    hi      integer := 60;
    mid     integer;
    below   numeric;
    in_bin  numeric;
BEGIN
    IF hist IS NULL OR p IS NULL THEN
        RETURN NULL;
    END IF;
    IF p < 0 OR p > 1 THEN
        RAISE EXCEPTION 'speed_percentile: p must be between 0 and 1, got %', p;
    END IF;
    total := mod(hist, nines);
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    target := p::numeric * total;
    wanted := greatest(target, 1);  -- counts are whole: p = 0 finds the first bin with a vehicle
    -- the first bin b whose vehicles up to and including it reach the target
    WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF mod(mod(hist, 10::numeric ^ (12 * (mid + 1))), nines) >= wanted THEN
            hi := mid;
        ELSE
            lo := mid + 1;
        END IF;
    END LOOP;
    IF lo = 60 THEN
        RETURN 120;
    END IF;
    below := mod(mod(hist, 10::numeric ^ (12 * lo)), nines);
    in_bin := div(mod(hist, 10::numeric ^ (12 * (lo + 1))), 10::numeric ^ (12 * lo));
    RETURN 2 * lo + 2 * (target - below) / in_bin;
END $$;

-- Chunks as traffic_hourly / traffic_daily (see 0010).
CREATE TABLE speed_hourly (
    bucket      timestamptz NOT NULL,
    camera_id   text NOT NULL,
    line_id     text NOT NULL,
    direction   text NOT NULL,
    cls         text NOT NULL,
    speed_hist  numeric NOT NULL,
    PRIMARY KEY (camera_id, bucket, line_id, direction, cls)
);
SELECT create_hypertable('speed_hourly', 'bucket', chunk_time_interval => interval '30 days');
CREATE INDEX ON speed_hourly (bucket DESC);

CREATE TABLE speed_daily (LIKE speed_hourly INCLUDING ALL);
SELECT create_hypertable('speed_daily', 'bucket', chunk_time_interval => interval '365 days');
CREATE INDEX ON speed_daily (bucket DESC);

-- How far back raw crossings are complete (retention moves it, as raw_horizon for count windows):
-- the refresh never recomputes a speed hour below it, the histogram stays as it was built.
ALTER TABLE warehouse_config ADD COLUMN speed_horizon timestamptz;

-- Which camera-hours of crossings changed: the same append-only log discipline as warehouse_dirty.
CREATE TABLE speed_dirty (
    camera_id  text NOT NULL,
    hour       timestamptz NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION speed_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO speed_dirty (camera_id, hour)
        SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM new_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO speed_dirty (camera_id, hour)
        SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER crossings_speed_dirty_insert AFTER INSERT ON crossings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_mark_dirty();
CREATE TRIGGER crossings_speed_dirty_update AFTER UPDATE ON crossings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_mark_dirty();
CREATE TRIGGER crossings_speed_dirty_delete AFTER DELETE ON crossings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_mark_dirty();

-- Existing crossings get their histograms from `ioc db maintain --full`, run once after upgrading
-- (it recomputes every hour that still has raw rows, in bounded runs). Not here: finding those hours
-- scans every crossing kept (billions of rows in a city), and migrations run before anything that
-- writes may start. Until then, reports of those hours say their percentiles are modelled.
