"""The service layer under the APIs and the web page: jobs, chat sessions and uploads of one server's workspace.

:class:`~mora_agents.services.jobs.JobService` and :class:`~mora_agents.services.sessions.SessionService` are what the
front ends call (the Videos API and the job API of :mod:`mora_agents.serve`, the web studio of
:mod:`mora_agents.web`); beneath them the job queue (:mod:`.queue`) runs jobs through the studio, the job store
(:mod:`.store`) keeps them in SQLite, and :mod:`.uploads` is the one place an uploaded file is named and saved.
Services raise the typed errors of :mod:`.errors`; the front ends turn each type into their own answer.

This layer imports the director, the studio and what lies below them; only front ends import it.
"""
