"""The dashboard: a small ASGI app (Starlette, Jinja2 templates, served by uvicorn) over the
read side (`catalog`) and the operator's use-cases (`sync`). Build it with
`web.app.create_app(runtime)`; nothing is built at import time. Installed by the `[web]` extra.
"""
