"""Entry points: the web app, the command line."""
