"""POST /api/v1/integrations/{org}/{provider}/rotate: staged replacement; the old key stays until the new one validates."""

from shared.web import endpoint, wants_wait


def _rotate(services, actor, call):
    wait = wants_wait(call)
    return (200 if wait else 202), services.setups.rotate(actor, call.provider, call.body, wait=wait)


rotate_credential = endpoint("rotate_credential", _rotate)
