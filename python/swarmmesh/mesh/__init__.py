"""The mesh: envelopes, chunking, gossip, the hybrid orchestrator and connection resilience."""
