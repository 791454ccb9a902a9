# field: the pieces of bench/field_bench.py — the reference community, the byte-counting and 4G link relays, /proc sampling.
