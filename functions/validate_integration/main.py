"""POST /api/v1/integrations/{org}/{provider}/validate: validate now, answer the new status."""

from shared.web import endpoint

validate_integration = endpoint(
    "validate_integration", lambda services, actor, call: (200, services.setups.validate(actor, call.provider))
)
