"""What every domain uses, in one place.

| module | what |
|---|---|
| ``database`` | ``Database``: the engine, ``reading()``, ``unit_of_work()``, ``atomic_write()`` |
| ``compiled`` | statements compiled once, run by asyncpg |
| ``engine`` / ``database_url`` | the engine for a ``DATABASE_URL`` (Neon's strings included) |
| ``columns`` | the metadata's naming convention, ``UTCDateTime``, ``utcnow`` |
| ``errors`` | the ``ApiError`` family and the one error envelope |
| ``routing`` | ``JSONRoute``, serving routes, JSON responses, query models |
| ``conditional`` | ETags, ``If-Match`` (``Precondition``), ``If-None-Match`` |
| ``pagination`` | ``page``, ``page_size`` and the page envelope |
| ``ratelimit`` | the API and auth rate limits (the ``limits`` library) |
| ``middleware`` | request ids, body limit, response headers, access log, last-resort 500/503 |
| ``text`` | validated text for request schemas |
| ``logs`` | logging configuration |
"""
