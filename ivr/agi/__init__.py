"""FastAGI: Asterisk's AGI() calls into hotline.

errors      typed failures (subclasses of the ivr.channel exceptions)
parser      the wire format, pure: environment, replies, quoting, line limits, routes
connection  the thin asyncio transport of one session
channel     AgiChannel, the Channel Protocol over AGI commands
flow        the FlowRunner seam the engine implements
lookup      agi://host/lookup: HOTLINE_* caller variables (queue, priority) for sites with their own dialplan
queue       a flow's queue request -> app_queue via [hotline-agi-queue] (AGI cannot bridge; never the ACD)
hangup      agi://host/hangup: a hangup handler closes the call row with who hung up
pyst        pyst2's AGI class in a worker thread over our transport (used by lookup)
server      AgiServer: sessions, routing, timeouts, fallback
ctx         agi_server_ctx for ivr/app.py's cleanup_ctx
"""
