"""mora serve: the studio as a service (job store, worker, HTTP APIs)."""
