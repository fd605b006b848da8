"""DELETE /api/v1/integrations/{org}/{provider}: destroy the credential, remove the integration (204)."""

from shared.web import endpoint


def _delete(services, actor, call):
    services.integrations.delete(actor, call.provider)
    return 204, None


delete_integration = endpoint("delete_integration", _delete)
