"""The mesh: envelopes, chunking, gossip, the hybrid orchestrator, connection resilience and health."""
