"""multidc's CrossGuard rules, one module per area; `policies/__main__.py` lists them all.

The pack is self-contained: the Pulumi CLI installs it into its own virtualenv from
`requirements.txt`. Of multidc it imports only `multidc.contract` (standard library only),
the type tokens and property keys the components register (docs/components.md).
"""
