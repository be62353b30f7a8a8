"""Adapters: the production (and embedded) implementations of core's ports.

``bootstrap`` picks one per port from the settings URLs; nothing below ``bootstrap``
imports this package.
"""
