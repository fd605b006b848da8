"""POST /api/v1/integrations/{org}/{provider}/enable: back to pending, validation queued (202)."""

from shared.web import endpoint

enable_integration = endpoint(
    "enable_integration", lambda services, actor, call: (202, services.integrations.enable(actor, call.provider))
)
