"""FastAGI protocol adapter: Asterisk's AGI() speaking to hotline. What a call does is ivr/calls/agi.

errors      typed failures (subclasses of the ivr.channel exceptions)
parser      the wire format, pure: environment, replies, quoting, line limits, routes
connection  the thin asyncio transport of one session
channel     AgiChannel, the Channel Protocol over AGI commands
pyst        pyst2's AGI class in a worker thread over our transport
"""
