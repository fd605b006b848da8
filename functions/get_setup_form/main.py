"""GET /api/v1/integrations/{org}/{provider}/setup: what a setup of this provider needs (no integration needed)."""

from shared.web import endpoint

get_setup_form = endpoint(
    "get_setup_form", lambda services, actor, call: (200, services.setup_forms.form(actor, call.provider))
)
