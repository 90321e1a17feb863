"""Test doubles and generators: ITCH encoders and random streams, recording and digesting message
sinks, counting engine hooks. Used by tests, benchmarks and test aids of the CLI; never by the hot path."""
