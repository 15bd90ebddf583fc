"""The mandate register: who may act for whom, for which services, when.

Mandates are never deleted. Every change is a state transition with an append-only history
entry saying who did it, when and why.
"""
