"""The mesh: envelopes, the hybrid orchestrator, connection resilience and health."""
