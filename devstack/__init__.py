"""Native local stack for development and tests: Kafka (3 KRaft brokers), Apicurio Schema Registry,
Mosquitto, PostgreSQL 15 + TimescaleDB, Prometheus and Alertmanager, started without Docker.

Run as ``python -m devstack up|down|status|logs [SERVICE]|clean``. ``down``, ``logs`` and
``clean`` use the standard library only, so they work without the project's virtual environment.
"""
