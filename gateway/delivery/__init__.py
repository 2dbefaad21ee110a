"""Outbound delivery: the transactional outbox (outbox.py) and the worker that drains it
(worker.py), with retries (retry.py), a circuit breaker per partner (breaker.py), transports
(transport.py) and authentication to partners (outbound_auth.py). What a delivery holds is the
partner kind's adapter's business (gateway/adapters/)."""
