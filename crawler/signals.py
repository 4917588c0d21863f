"""The project's own Scrapy signals, in a module of their own so that a component can listen
to one without importing the component that sends it."""

dataset_committed = object()
"""Sent by :class:`crawler.itempipelines.DatasetPipeline` after each commit, with ``stored``:
(article_id, fetched_at) of the article rows and settled rejects committed since the previous
one. A distributed crawl records them as stored in Redis (:mod:`crawler.distributed`): only now
are they on disk."""
