"""The protocol's shared vocabulary, the one public part of ``backend``: the draft (timeline) schema,
the timeline summary people read, and the en/zh message-catalogue policy.

The bot is a client of the protocol (it must also work against the hosted service), so it may import
this package and nothing else of ``backend``; this package imports nothing of ``backend`` either.
"""
