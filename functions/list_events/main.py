"""GET /api/v1/integrations/{org}/{provider}/events: the audit trail, newest first, paginated."""

from shared.web import endpoint

list_events = endpoint("list_events", lambda service, actor, call: (
    200, service.events(actor, call.provider, call.query.get("limit"), call.query.get("cursor"))))
