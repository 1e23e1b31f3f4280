"""Gunicorn settings for Hubcore's web processes, behind nginx on the same host.

Started by deploy/systemd/hubcore-web.service:
    gunicorn --config deploy/gunicorn.conf.py 'hubcore.app:create_app()'
Settings come from the HUBCORE_* environment (/etc/hubcore/hubcore.env), not
from here. Do not add HUBCORE_* variables for gunicorn: the app refuses names
it does not know.
"""

import multiprocessing

# nginx talks to gunicorn over a socket only they can reach (systemd's RuntimeDirectory).
bind = "unix:/run/hubcore/gunicorn.sock"
umask = 0o007  # the socket: owner and group (nginx joins the hubcore group)

# Requests are CPU-bound Python: one process per core and a spare, so that one
# slow page does not halve the service. Sync workers: each takes a connection
# only when it is free, so the kernel spreads requests over them. gthread
# workers accept greedily: measured with the intake benchmark (bench/README.md),
# one of two workers took every keep-alive connection and the other sat idle.
# nginx buffers requests and responses, so a sync worker never waits on a slow client.
# Each process keeps its own SQLAlchemy pool (5 + 10 overflow, hubcore/app.py): keep
# workers x 15 below PostgreSQL's max_connections (100 by default). A sync worker
# uses one connection at a time: even in-process jobs (HUBCORE_JOBS_IN_PROCESS) run
# only once the request's commit has given its connection back.
workers = multiprocessing.cpu_count() + 1
worker_class = "sync"
# A sync worker's request may run this long before gunicorn kills it (nginx's
# proxy_read_timeout in deploy/nginx is 60 s too). Long work belongs in a job;
# the audit chain check on a page takes about 7 s per million entries.
timeout = 60
graceful_timeout = 30
max_requests = 5000  # recycle workers now and then; jitter so they do not restart together
max_requests_jitter = 500
preload_app = False  # each worker opens its own database connections after the fork

accesslog = "-"  # stdout and stderr go to the journal
errorlog = "-"
loglevel = "info"
# Who, what and how long; no query strings (they may carry personal data) and no referrer.
access_log_format = '%({x-forwarded-for}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
proc_name = "hubcore-web"


# The client address and scheme behind nginx: HUBCORE_PROXY_HOPS=1 in hubcore.env
# makes the app trust exactly one X-Forwarded-* hop (see docs/configuration.md).