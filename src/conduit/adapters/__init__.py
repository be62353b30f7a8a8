"""Adapters: implementations of core's ports for external services (Redis, brokers ...)."""
