"""Project commands: ``crawl`` (with exit codes), ``savefixture``, ``replay``."""
