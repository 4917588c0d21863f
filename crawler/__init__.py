"""The Scrapy project: settings, the ``qikan`` spider, item pipeline adapters, commands."""
