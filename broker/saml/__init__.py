"""An in-process SAML 2.0 toolkit: hardened parsing, signing and verification with signxml,
the HTTP-Redirect and HTTP-POST bindings, and metadata.

No xmlsec1 binary and no Flask. Everything the broker reads from a signed message it reads from
the node that :func:`broker.saml.signing.verify` proved was signed ("see what is signed").
"""
