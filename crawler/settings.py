"""Scrapy settings for the qikan crawler.

Every project setting can be given on the command line (``-s NAME=value``).
Defaults are polite: one request at a time per host, a delay, AutoThrottle.
"""

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
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024  # pages are about 50 KB
DOWNLOAD_WARNSIZE = 1024 * 1024
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
DATASET_MAX_BUFFER_MB = 64
REBUILD_MAX_BUFFER_MB = 16  # scrapy rebuild: all workers together; each holds a share (the 500 MB budget)
DATASET_COMMIT_SECONDS = 300  # open files are committed at least this often, so a killed crawl loses little
RUN_ID = None  # generated per crawl when unset: <UTC time>-<random>

# -- scheduled runs -------------------------------------------------------------
INCREMENTAL_ENABLED = True  # skip articles already stored in DATASET_DIR (-a refetch=all to fetch them again)
TEMPLATE_DRIFT_MAX_SHARE = 0.2  # fail the run when more article pages than this give no title, body or journal
TEMPLATE_DRIFT_MIN_PAGES = 10
ERROR_MAX_SHARE = 0.25  # fail the run when more fetched pages than this end in fetch errors or HTTP errors
ERROR_MIN_PAGES = 10

# -- processing: decode, extract, normalise, segment --------------------------
PROCESS_WORKERS = None  # worker processes for page processing; None = cores - 1 (at least 1), 0 = in the crawl process
SEGMENT_ENABLED = True
JIEBA_CACHE_DIR = None  # default: <DATASET_DIR>/.cache/jieba
JIEBA_USER_DICTS = []  # extra user dictionary files, loaded after the bundled one
KEYWORDS_METHOD = "tfidf"  # or "textrank"
KEYWORDS_TOP_K = 10

ITEM_PIPELINES = {
    "crawler.archiving.RawArchivePipeline": 50,  # raw pages to WARC before anything can go wrong with them
    "crawler.itempipelines.PageProcessingPipeline": 100,
    "crawler.itempipelines.DuplicateArticlesPipeline": 200,
    "crawler.itempipelines.DatasetPipeline": 300,
}
SPIDER_MIDDLEWARES = {
    "crawler.incremental.IncrementalMiddleware": 600,
}
EXTENSIONS = {
    "crawler.extensions.RunSummary": 500,
    "crawler.incremental.JobDirGuard": 0,
}
FEED_EXPORTERS = {
    "parquet": "crawler.exporters.ParquetItemExporter",
}

LOG_LEVEL = "INFO"
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
