"""The RealWorld pages, one module per group; :data:`ROUTES` lists them all."""
