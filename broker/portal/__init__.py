"""The mandate portal ("machtigingenportaal"): people give, ask for, activate, see and revoke
mandates, and read their letters.

People log in to it through the broker itself: the portal is an internal frontend, so the same
connectors, flows and checks apply as for any relying party.
"""
