"""POST /api/v1/integrations/{org}/{provider}/validate: validate now, answer the new status."""

from shared.web import endpoint

validate_integration = endpoint("validate_integration", lambda service, actor, call: (
    200, service.validate(actor, call.provider)))
