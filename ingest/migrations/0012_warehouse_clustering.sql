-- Rollup chunks are rewritten once, in (camera_id, bucket) order, when their time range has closed
-- (`ioc db maintain`). Why: the refresh writes a chunk hour by hour for all cameras, so one camera's
-- rows of a month lie one per heap page; "one camera over a year" then reads ~50k pages. Clustered,
-- it reads ~1.5k. This table remembers which chunks are done (a chunk is clustered once; late rows
-- that land in it afterwards are few).
CREATE TABLE warehouse_clustered (
    chunk         text PRIMARY KEY,  -- schema-qualified chunk table
    clustered_at  timestamptz NOT NULL DEFAULT now()
);
