"""The bottom layer: settings, protocol error codes and the envelope, the en/zh message catalogue,
signed links and the plain data types every other layer shares. Imports no other backend layer.
"""
