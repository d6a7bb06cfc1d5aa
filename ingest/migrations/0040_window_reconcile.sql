-- How far `ioc db maintain` has checked the closed count and occupancy windows against the stored
-- crossings and zone samples (ingest/warehouse/reconcile.py). Each run checks from a little before
-- this point (late rows land behind it) up to the newest window that is surely closed, so windows
-- lost between maintenance runs, however long the gap, are found. NULL: never checked, the first
-- run covers everything the raw retention still holds.
ALTER TABLE warehouse_config ADD COLUMN reconciled_until timestamptz;
