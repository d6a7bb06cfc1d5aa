"""Stream processors: exact 1-minute counts and alerts from camera events (see README.md).

Pure logic (``windowing``, ``baseline``, ``rules``, ``config``) is free of faust
and Kafka; ``app``, ``counting``, ``alerting``, ``consumer`` and ``horizon`` are the faust layer;
``cli`` is mounted as ``ioc processors``.
"""
