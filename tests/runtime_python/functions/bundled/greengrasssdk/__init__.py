"""Stands in for a genuine greengrasssdk bundled with a function's code."""
BUNDLED = True
