"""Chat sessions over HTTP: the same session folders as ``mora chat``, each turn run as a job of the job API."""
