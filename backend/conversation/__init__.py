"""One turn of the conversation: interpreting a request (English and Chinese), choosing a voice,
planning and charging the turn, applying edits and running synthesis, as ADK-shaped events.
"""
