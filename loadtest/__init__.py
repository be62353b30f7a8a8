"""Load tests of Conduit: locust scenarios, their data set, the checks and the soak run
(docs/operating/load-tests.md)."""
