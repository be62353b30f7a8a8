"""Articles: writing, listing, the feed and favorites."""
