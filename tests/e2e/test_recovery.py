"""After kill -9: `serve` picks up what the dead process left. Its local queue lived in memory,
so a validation whose message died stays pending forever unless the next start queues it again.
The crash is staged in this process (a validation queued long ago, its message never
delivered), then the real server starts on that data directory.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.container import build_service
from shared.domain.models import utcnow
from tests.support.doubles import RecordingQueue
from tests.support.live_service import LiveService
from tests.support.provider_servers import ProviderServers, openai_key, settings_for
from tests.support.world import INFERENCE_ONLY

pytestmark = pytest.mark.slow


def test_serve_requeues_validations_lost_in_a_crash(tmp_path) -> None:
    with ProviderServers() as providers:
        live = LiveService(tmp_path, providers)
        long_ago = utcnow() - timedelta(hours=1)
        crashed = build_service(
            settings_for(providers, data_dir=live.data_dir), queue=RecordingQueue(), clock=lambda: long_ago
        )
        api_key = crashed.orgs.create_org("acme_corp")
        key = providers.openai.set(openai_key(), "valid")
        actor = crashed.orgs.authenticate(api_key, "acme_corp")
        assert crashed.setups.setup(actor, "openai", {"credential": key})["status"] == "pending"
        crashed.store.close()

        live.start()
        try:
            body = live.client(api_key).wait_for("/acme_corp/openai", lambda b: b.get("status") == "active")
            assert body["status_message"] == INFERENCE_ONLY
            assert '"requeued": 1' in live.logs() or '"requeued":1' in live.logs()
        finally:
            live.stop()
