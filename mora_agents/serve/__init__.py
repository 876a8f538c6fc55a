"""The HTTP front end of ``mora serve``: the OpenAI Videos API (:mod:`.videos`), mora's job API (:mod:`.jobs`) and
chat sessions (:mod:`.sessions`), each a router over the services of :mod:`mora_agents.services`, in one FastAPI app
(:mod:`.app`) that also mounts the web studio (:mod:`mora_agents.web`).

A front end: it imports the services and what lies below them; nothing of mora imports it but the CLI.
"""
