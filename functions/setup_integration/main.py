"""POST /api/v1/integrations/{org}/{provider}/setup: check, encrypt, store, queue validation (202)."""

from shared.web import endpoint, wants_wait


def _setup(services, actor, call):
    wait = wants_wait(call)
    return (200 if wait else 202), services.setups.setup(actor, call.provider, call.body, wait=wait)


setup_integration = endpoint("setup_integration", _setup)
