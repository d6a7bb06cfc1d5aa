"""The planners' warehouse: rollups of traffic counts, retention, and synthetic history.

``rollups`` keeps hourly and daily traffic rollups current (continuous aggregates where the
TimescaleDB licence allows, the project's own incremental refresh elsewhere); ``retention``
drops old chunks per table; ``synthetic`` models a city's traffic and ``backfill`` writes it
through the sink's write path; ``cli`` is mounted as ``ioc db``.
"""
