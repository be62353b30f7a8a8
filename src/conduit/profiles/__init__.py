"""Profiles: public view of a user and following."""
