"""The validator: a CloudEvent function fed by Pub/Sub (Eventarc) or, locally, by the local queue.

Idempotent under redelivery. Raising makes Pub/Sub redeliver: done for transient failures only.
"""

import functions_framework

from shared.worker import handle_cloud_event


@functions_framework.cloud_event
def validate_credential(cloud_event):
    handle_cloud_event(cloud_event)
