"""A functions-framework CloudEvent function standing in for the validator in tests.

It hands every event to the CloudEventReceiver that serves it (found in the Flask
app config), which records it and decides whether this delivery fails.
"""

import flask
import functions_framework


@functions_framework.cloud_event
def receive(event):
    receiver = flask.current_app.config["CLOUDEVENT_RECEIVER"]
    status = receiver.record(event)
    if status >= 400:
        flask.abort(status)
