"""Pure scanners: text (or a definition) in, findings out. They import nothing of ours but
:mod:`middleware.guardrails.detectors.findings`, hold no state and never do I/O, so they can be
measured on the corpus alone and reused by any plugin."""
