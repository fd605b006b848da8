"""GET /api/v1/integrations/{org}/{provider}/events: the audit trail, newest first, paginated."""

from shared.web import endpoint

list_events = endpoint(
    "list_events",
    lambda services, actor, call: (
        200,
        services.integrations.events(actor, call.provider, call.query.get("limit"), call.query.get("cursor")),
    ),
)
