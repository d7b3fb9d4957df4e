"""The Celery app tests/python/test_celery.py runs a prefork worker with.

As users do, the provider is made when the worker's main process imports this
module; the pool processes inherit it. The broker is a directory
(FLAG_APP_QUEUE_DIR). Each task evaluates one flag and appends "pid key" to
FLAG_APP_RESULTS, so the test knows which process sent which exposure. With
FLAG_APP_EXIT=worker_process_shutdown, a pool process shuts OpenFeature down
when it exits, as docs/python-servers.md says to.
"""

import os

from celery import Celery
from celery.signals import worker_process_shutdown
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from confidence import ConfidenceProvider


QUEUE_DIR = os.environ["FLAG_APP_QUEUE_DIR"]
app = Celery("celery_tasks", broker="filesystem://",
             broker_transport_options={"data_folder_in": QUEUE_DIR, "data_folder_out": QUEUE_DIR,
                                       "control_folder": QUEUE_DIR, "polling_interval": 0.05})
app.conf.worker_hijack_root_logger = False

provider = ConfidenceProvider(client_secret=os.environ["FLAG_APP_SECRET"])
api.set_provider(provider)
provider.initialize(None)
client = api.get_client()

if os.environ.get("FLAG_APP_EXIT") == "worker_process_shutdown":

    @worker_process_shutdown.connect
    def _deliver_exposures(**kwargs):
        api.shutdown()


@app.task(name="evaluate")
def evaluate(key):
    d = client.get_boolean_details("new-checkout.enabled", False, EvaluationContext(key, {"country": "SE"}))
    if d.error_code is not None:
        raise RuntimeError(f"{key}: {d.error_code} {d.error_message}")
    fd = os.open(os.environ["FLAG_APP_RESULTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{os.getpid()} {key}\n".encode())
    finally:
        os.close(fd)
