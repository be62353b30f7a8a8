"""Tags: the names articles are filed under."""
