"""High availability: PostgreSQL under Patroni, losing its primary under load."""
