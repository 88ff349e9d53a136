"""Operator tools that sit beside the product: starting the engines a cluster needs on one machine."""
