"""Calls that reach us over FastAGI (ivr/agi is the protocol): routing, flows, lookups, hang-ups.

server      AgiServer: sessions, routing, timeouts, fallback
flow        the FlowRunner seam the engine implements
lookup      agi://host/lookup: HOTLINE_* caller variables (queue, priority) for sites with their own dialplan
queue       a flow's queue request -> app_queue via [hotline-agi-queue] (AGI cannot bridge; never the ACD)
hangup      agi://host/hangup: a hangup handler closes the call row with who hung up
"""
