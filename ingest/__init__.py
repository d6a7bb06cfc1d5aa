"""The event contract, Kafka plumbing and the TimescaleDB sink."""
