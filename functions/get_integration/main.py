"""GET /api/v1/integrations/{org}/{provider}: one integration."""

from shared.web import endpoint

get_integration = endpoint(
    "get_integration", lambda services, actor, call: (200, services.integrations.get(actor, call.provider))
)
