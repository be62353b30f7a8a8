"""Image uploads: avatars and article images, checked and re-encoded, kept in file storage."""
