"""Kafka clients, their configuration and the topic admin step."""
