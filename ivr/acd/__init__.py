"""Automatic call distribution: queues, offers to agents and the 3-ring clock (docs/acd-console.md).

    ivr.acd.service.Acd       the service (enqueue, agent states, call control)
    ivr.app.acd_ctx       its aiohttp cleanup_ctx; ivr.acd.ari_dialer.AriDialer rings PJSIP endpoints
    ivr.acd.model             the pure rules (line order, agent choice, ring arithmetic)
    ivr.acd.workorders        work-order deadlines (hotline-rules.md) and creation
    tests.fakes.acd           in-memory dialer, fake clock and caller channel for tests and demos
"""
