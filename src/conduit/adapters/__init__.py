"""Adapters: implementations of core's ports on external services (Redis, brokers, ...).

Imported only by bootstrap, which picks them from the settings URLs.
"""
