"""The jobs benchmark's baseline: RQ's own forking `Worker` (a work horse forked for every job) around the app, as
`citymgmt worker` ran jobs before it ran them in its own process.

    python -m tests.perf.forking_worker      # with DATABASE_URL and REDIS_URL set, as for `citymgmt worker`
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Worker
from sqlalchemy.orm import configure_mappers

from citymgmt import create_app
from citymgmt.core.db import db
from citymgmt.core.queue import QUEUES, get_queue


def main() -> None:
    app = create_app()
    with app.app_context():
        settings = app.extensions["citymgmt.settings"]
        redis = Redis.from_url(settings.resolved_redis_url())
        engines = list(db.engines.values())
        os.register_at_fork(after_in_child=lambda: [e.dispose(close=False) for e in engines])
        configure_mappers()  # once, before the first fork, as the forking worker did
        Worker([get_queue(n, connection=redis) for n in QUEUES], connection=redis).work()


if __name__ == "__main__":
    main()
