"""Local HTTP servers that answer like OpenAI, Anthropic, Gemini and DeepSeek (and, for
GCP, like Google's OAuth token endpoint and the BigQuery REST API; for Azure, like Entra ID
and Azure Resource Manager).

Each server binds 127.0.0.1 on a free port and serves from a daemon thread. What it
answers is chosen by the key the request carries: `server.set(key, "quota")`. Unknown
keys get the provider's invalid-key answer. Auth headers are checked the way the
provider checks them. Requests are recorded by method, path, query and header *names*
(never values), so tests can assert a key never travelled in a URL.

Bodies follow the providers' documented error and page shapes (see docs/providers.md), and
key types behave as the providers' do: Admin keys (`openai_key("admin")`,
`anthropic_key(admin=True)`) are refused on the model lists and answer on the cost APIs,
where every other key is refused.

  keys.py       test keys, made at test time (API keys, RSA keys, service-account key files)
  server.py     one server: `ProviderServer`, its `Reply`/`Incoming`, the scenarios all share
  openai.py     OpenAI: /v1/models and the organization costs / usage APIs (Admin keys)
  deepseek.py   DeepSeek: /models (OpenAI-compatible) and /user/balance
  anthropic.py  Anthropic: /v1/models and the Admin API (cost and usage reports)
  gemini.py     Gemini
  gcp.py        Google's OAuth token endpoint and BigQuery REST
  azure.py      Entra ID's token endpoint and Azure Resource Manager's Cost Management query
  servers.py    `ProviderServers` (all of them together), `settings_for`, the pytest fixtures

Import from here: `from tests.support.provider_servers import ProviderServers, openai_key`.
"""

from tests.support.provider_servers.keys import (
    anthropic_key,
    deepseek_key,
    gemini_key,
    openai_key,
    private_key_pem,
    rsa_private_key,
    service_account_info,
)
from tests.support.provider_servers.server import Incoming, ProviderServer, RecordedRequest, Reply, common_reply
from tests.support.provider_servers.servers import (
    ProviderServers,
    _provider_servers_session,
    provider_servers,
    settings_for,
)

__all__ = [
    "Incoming",
    "ProviderServer",
    "ProviderServers",
    "RecordedRequest",
    "Reply",
    "_provider_servers_session",
    "anthropic_key",
    "common_reply",
    "deepseek_key",
    "gemini_key",
    "openai_key",
    "private_key_pem",
    "provider_servers",
    "rsa_private_key",
    "service_account_info",
    "settings_for",
]
