"""POST /api/v1/integrations/{org}/{provider}/disable: keep the credential, stop its use and validation."""

from shared.web import endpoint

disable_integration = endpoint(
    "disable_integration", lambda services, actor, call: (200, services.integrations.disable(actor, call.provider))
)
