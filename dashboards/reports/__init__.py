"""Planners' traffic reports (`ioc report`): queries over the warehouse rollups, exports and charts."""
