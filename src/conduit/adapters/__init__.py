"""Adapters: the production implementations of core's ports (brokers, caches, storage)."""
