"""bench/harness: the pieces of bench/run (one command that benchmarks ix against the alternatives
and the limits). Pure parts (stats, parse, report) have unit tests beside them (*_test.py)."""
