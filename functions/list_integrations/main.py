"""GET /api/v1/integrations/{org}: every provider of the registry, absent ones as not_configured."""

from shared.web import endpoint

list_integrations = endpoint(
    "list_integrations",
    lambda services, actor, call: (200, services.integrations.list(actor, call.query.get("category"))),
)
