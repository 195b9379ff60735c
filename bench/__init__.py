"""Benchmarks run by `make bench`: each prints its figures next to a reference measured in the same
run, and the ratio, because absolute numbers on a shared 2-core machine say little."""
