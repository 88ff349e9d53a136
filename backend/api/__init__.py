"""The HTTP surface: the ASGI app and its lifespan, request dependencies (token, session), the JSON
routes, ``/run_sse`` (SSE framing) and the web upload page.
"""
