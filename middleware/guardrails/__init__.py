"""Built-in guardrails: offline detectors and the native plugins that apply them."""
