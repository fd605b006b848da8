"""GET /api/v1/integrations/{org}/{provider}: one integration."""

from shared.web import endpoint

get_integration = endpoint("get_integration", lambda service, actor, call: (200, service.get(actor, call.provider)))
