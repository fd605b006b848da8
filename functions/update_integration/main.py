"""PATCH /api/v1/integrations/{org}/{provider}: change name / config, keep the credential."""

from shared.web import endpoint

update_integration = endpoint(
    "update_integration",
    lambda services, actor, call: (200, services.integrations.edit(actor, call.provider, call.body)),
)
