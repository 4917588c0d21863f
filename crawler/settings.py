"""Scrapy settings for the qikan crawler.

Every project setting can be given on the command line (``-s NAME=value``).
Defaults are polite: one request at a time per host, a delay, AutoThrottle.
Each project setting has its one default here; code reads settings without a fallback,
and ``tests/test_settings_doc.py`` holds the README's settings tables against this module.
Scrapy reads only the upper-case names of this module.
"""

from __future__ import annotations

BOT_NAME = "qikan"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# -- politeness ---------------------------------------------------------------
USER_AGENT = "qikan-crawler/0.1 (research corpus crawler; about: README of the qikan-crawler project; put your contact here)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5  # each delay is DOWNLOAD_DELAY × (1 ± 0.5)
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024  # far above any article page
DOWNLOAD_WARNSIZE = 1024 * 1024
DOWNLOAD_FAIL_ON_DATALOSS = True  # a body shorter than its Content-Length is an error (retried), never stored half
REDIRECT_MAX_TIMES = 20
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# -- retries: 5xx, 429 and timeouts, with exponential backoff honouring Retry-After
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry; doubles each time
RETRY_BACKOFF_MAX = 60.0  # cap for backoff and for a server's Retry-After
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.SameSiteRedirectMiddleware": 600,  # no redirect off the start URL's host:port, no loops
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.CountingHttpCompressionMiddleware": 590,  # gzip bombs stop at DOWNLOAD_MAXSIZE, counted
}
METAREFRESH_ENABLED = False  # a page's <meta refresh> is page content, not a redirect to follow

# -- output -------------------------------------------------------------------
DATASET_DIR = "output"  # gets articles/, rejects/, runs/; a local path or a pyarrow filesystem URI
DATASET_ROW_GROUP_ROWS = 2000
DATASET_MAX_ROWS_PER_FILE = 100_000
DATASET_MAX_BUFFER_MB = 16  # Arrow buffer per writer; 64 made a 3,000-article crawl peak 60 MB higher
REBUILD_MAX_BUFFER_MB = 16  # scrapy rebuild: all workers together; each holds a share
DATASET_COMMIT_SECONDS = 300  # open files are committed at least this often, so a killed crawl loses little
COMPACT_GRACE_SECONDS = 30  # scrapy compact --merge: replaced files stay this long after the merged ones appear (readers)
RUN_ID = None  # generated per crawl when unset: <UTC time>-<random>
RUN_SUMMARY_ENABLED = True  # the summary log lines and runs/<run_id>.json

# -- scheduled runs -------------------------------------------------------------
INCREMENTAL_ENABLED = True  # skip articles already stored in DATASET_DIR (-a refetch=all to fetch them again)
TEMPLATE_DRIFT_MAX_SHARE = 0.2  # fail the run when more article pages than this give no title, body or journal
TEMPLATE_DRIFT_MIN_PAGES = 10
ERROR_MAX_SHARE = 0.25  # fail the run when more fetched pages than this end in fetch errors or HTTP errors
ERROR_MIN_PAGES = 10
PARSE_ERROR_MAX_SHARE = 0.01  # fail the run when more article pages than this end as parse_error (a bug, a dead worker)

# -- discovery: which links lead to articles and listings (pipelines/discovery.py) ---------
# Learned from each crawl by default; regexes searched in the URL path pin it for a known site
# (with both lists set, nothing else is followed). The run summary's "discovery" shows what was learned.
DISCOVERY_ARTICLE_PATTERNS: list[str] = []  # e.g. [r"^/paper/[0-9]+\.html$"]
DISCOVERY_LISTING_PATTERNS: list[str] = []  # e.g. [r"^/journals?/"]
DISCOVERY_PROBES_PER_SHAPE = 2  # pages fetched of a URL shape not yet classified; its other links wait

# -- processing: decode, extract, normalise, segment --------------------------
PROCESS_WORKERS = None  # worker processes for page processing; None = usable CPUs - 1 (at least 1), 0 = in the crawl process
SEGMENT_ENABLED = True
SEGMENT_ENGINE = "fast"  # jieba 0.42.1's exact tokens from jieba-rs (much faster); "jieba" runs jieba itself
JIEBA_CACHE_DIR = None  # default: <DATASET_DIR>/.cache/jieba, or the user's cache folder for a remote DATASET_DIR
JIEBA_USER_DICTS: list[str] = []  # extra user dictionary files, loaded after the bundled one
KEYWORDS_METHOD = "tfidf"  # or "textrank"
KEYWORDS_TOP_K = 10

ITEM_PIPELINES = {
    "crawler.archiving.RawArchivePipeline": 50,  # raw pages to WARC before anything can go wrong with them
    "crawler.itempipelines.PageProcessingPipeline": 100,
    "crawler.itempipelines.DatasetPipeline": 300,  # the sink: first copy wins, counters, the dataset
    "crawler.feeds.FeedRowsPipeline": 1000,  # last: feeds (-o/-O) get article rows only
}
SPIDER_MIDDLEWARES = {
    "crawler.incremental.IncrementalMiddleware": 600,
}
EXTENSIONS = {
    "scrapy.extensions.logstats.LogStats": None,  # replaced by the progress line
    "crawler.progress.ProgressLog": 0,
    "crawler.extensions.RunSummary": 500,
    "crawler.incremental.JobDirGuard": 0,
}
FEED_EXPORTERS = {
    "parquet": "crawler.exporters.ParquetItemExporter",  # -O only: a Parquet file cannot be appended to
    "csv": "crawler.exporters.ArticleCsvItemExporter",  # list columns as JSON arrays, like `scrapy export`
}
FEED_ARTICLES_ONLY = True  # feeds get article rows only (rejects are in DATASET_DIR/rejects)

LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawler.logformatter.QuietLogFormatter"  # item lines name the item (URL, reason), never print it
LOGSTATS_INTERVAL = 60.0  # seconds between progress lines (0: none)
PROGRESS_BAR = "auto"  # a live one-line bar instead when stderr is a terminal; "on" or "off" to force
FEED_EXPORT_ENCODING = "utf-8"

# -- raw archive: every fetched response as WARC, for `scrapy rebuild` -------------
RAW_ARCHIVE_ENABLED = True  # DATASET_DIR/raw/<run_id>[-<WORKER_ID>]-<n>.warc.gz
RAW_ARCHIVE_MAX_MB = 1024  # start a new WARC file past this size

# -- distributed crawling: N workers share one frontier in Redis (scrapy-redis) -------
# Off unless REDIS_URL is set; then the add-on switches scheduler and duplicate filter to
# scrapy-redis and keeps the incremental state in Redis (see crawler/distributed).
ADDONS = {"crawler.distributed.RedisAddon": 0}
REDIS_URL = None  # redis://host:port/db; workers with the same URL and REDIS_CRAWL_ID share one crawl
REDIS_CRAWL_ID = "qikan"  # names the shared frontier and state: one id per dataset
REDIS_WORKER_TIMEOUT = 60  # seconds without a heartbeat before a worker counts as dead and its requests are re-queued
WORKER_ID = None  # in file names and Redis keys; default with REDIS_URL: <hostname>-<pid>
REDIS_PREFETCH = None  # requests a worker holds at once (taken from the shared queue); default 4 × CONCURRENT_REQUESTS_PER_DOMAIN
