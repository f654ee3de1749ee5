"""Stands in for a stale runtime-side module (e.g. GGC 1.0 era, port 8000 hard-coded) in a function bundle."""
STALE = True
