"""multidc's CrossGuard rules, one module per area; `policies/__main__.py` lists them all.

The pack is self-contained: the Pulumi CLI installs it into its own virtualenv from
`requirements.txt`, so nothing here imports the `multidc` package. What the pack knows of
multidc is the component property contract of docs/components.md, restated in `facts.py`.
"""
