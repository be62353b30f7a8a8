"""The ``conduit`` command (Typer): ``main`` assembles it; each sub-command group has its
module (``events``, ``users``, ``uploads``, ``seed``) and shares ``common``."""
