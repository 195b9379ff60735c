"""TimescaleDB sink: Kafka readings -> sensor_readings, batched, idempotent, loss-free."""
