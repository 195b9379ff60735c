"""The device simulator (run_producer.py)."""
