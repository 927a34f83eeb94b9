"""The tag picker of the API contract ("Tags"): ``GET /api/{user_id}/tags``, the user's
tags that at least one of their tasks carries, each with how many tasks carry it.

Shaped like ``todo_api.tasks``: ``router`` (HTTP only), ``service`` (the rules),
``repository`` (the statement) and ``schemas``. There is no ``models`` module:
the ``tags`` table and the ``task_tags`` link belong to ``todo_api.tasks.models``,
whose writes keep them; this package only reads them.
"""
