"""Alert consumer: a pure rules engine (model, config, rules, engine) and the Kafka service."""
