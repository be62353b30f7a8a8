"""The server-rendered web app: Conduit's own pages at ``/`` and the moderation console.

Another entry point beside REST and GraphQL, on the same use cases: every page calls the
features' services and renders Jinja2 templates with the markup and classes of the RealWorld
frontend spec, so the RealWorld theme applies and a frontend developer finds the same pages.
Plain HTML forms that post and redirect make it work with JavaScript off; ``conduit.js``
only enhances. Sessions are cookies over the server-side session rows (``session.py``),
every form carries a CSRF token (``csrf.py``), and article bodies are rendered from markdown
and sanitised once per version (``markdown.py``).
"""
