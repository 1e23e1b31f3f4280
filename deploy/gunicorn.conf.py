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

# Requests are CPU-bound Python (bench/README.md, help_requests_intake.py: on 2
# cores one process per core and one thread each served most, threads only
# queued on the GIL and made the slowest responses several times slower); one
# spare process so that one slow page does not halve the service.
# Each process keeps its own SQLAlchemy pool (5 + 10 overflow): keep
# workers x 15 below PostgreSQL's max_connections (100 by default).
workers = multiprocessing.cpu_count() + 1
worker_class = "gthread"
threads = 1
timeout = 30
graceful_timeout = 30
keepalive = 5
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