"""The alert desk: where operators see, acknowledge, annotate and resolve alerts, live."""
