"""Conduit's core: database, errors, security. Imports no feature and no web framework."""
