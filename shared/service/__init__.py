"""The use cases, as small collaborators that each declare what they depend on.

Dependencies run one way (docs/architecture.md; tests/unit/test_architecture.py enforces it):

    requests, views          parsing and rendering, no state
    audit                    events and status changes
    writes                   one unit of work per change, compare-and-set      <- audit
    credentials, limits      sealing / opening ciphertext; the rate limit
    validation               from "validate this" to a verdict on record       <- writes, credentials
    revalidation, messages   the daily job and crash recovery; the validator function's message
    orgs, integrations, setups, pipelines, rewrap    the use cases the entry points call

Nothing is imported here: each entry point pays only for what it uses (cold start).
"""
