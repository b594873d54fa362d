"""Notifier: announces stored files to the external AMQP consumer, exactly once per id."""
