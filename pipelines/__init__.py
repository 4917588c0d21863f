"""Cleaning, normalisation, segmentation and dataset writing for qikan pages.

Everything here is plain Python over raw pages and records: the Scrapy item
pipelines in :mod:`crawler.itempipelines` are thin adapters over it, and the
offline tools (replay, rebuild) call the same functions.
"""
