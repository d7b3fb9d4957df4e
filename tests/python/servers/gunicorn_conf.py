"""gunicorn settings for the server tests (gunicorn -c ...).

post_worker_init writes the worker's pid into FLAG_APP_BOOTED_DIR so the test
starts its load once every worker serves. With FLAG_APP_EXIT=worker_exit,
worker_exit shuts OpenFeature (and so the provider) down in each worker, as
docs/python-servers.md recommends for WSGI workers; otherwise only the
package's own atexit handler, or the app (FLAG_APP_EXIT=lifespan), delivers
what a worker still holds when it stops.
"""

import os


def post_worker_init(worker):
    with open(os.path.join(os.environ["FLAG_APP_BOOTED_DIR"], str(os.getpid())), "w"):
        pass


if os.environ.get("FLAG_APP_EXIT") == "worker_exit":

    def worker_exit(server, worker):
        from openfeature import api

        api.shutdown()
