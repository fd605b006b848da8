"""PATCH /api/v1/integrations/{org}/{provider}: change name / config, keep the credential."""

from shared.web import endpoint

update_integration = endpoint("update_integration", lambda service, actor, call: (
    200, service.edit(actor, call.provider, call.body)))
