"""Notifications: what happened to a user's profile and articles, kept for them to read."""
