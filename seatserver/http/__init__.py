"""The HTTP edge: what every route shares, below the features that use it.

``responses`` (JSON answers, page headers), ``params`` (path and query),
``bodies`` (the one body reader and its rule), ``errors`` (the one error body
and the middleware that answers with it), the edge middlewares (``host``,
``inputs``), ``openapi`` and the app's own routes (``pages``, ``health``,
``metrics``). Features import from here; nothing here imports a feature's
handlers.
"""
