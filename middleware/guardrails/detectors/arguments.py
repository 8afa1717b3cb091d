"""Argument detectors: SSRF, path traversal and command injection in tool argument values.

The gateway cannot know whether a string argument is a URL, a path, a file name or prose, so it
runs all three on every string; each is written to stay silent on the other kinds of value.

Finding kinds, by detector:

- ``ssrf``: "loopback", "unspecified", "private_address" (RFC 1918, CGNAT, ULA), "link_local",
  "reserved_address" (multicast, broadcast, 240/4), "metadata_host" (cloud instance metadata),
  "numeric_host" (an internal address in decimal/hex/octal/short form), "rebinding_name" (nip.io-
  style names embedding an internal IP, loopback-by-design names, rebinding services),
  "internal_name" (single-label hosts, ``.local``/``.internal``/``.corp``... names), "scheme"
  (file, gopher, dict, ldap, jar, php...), and from :func:`check_resolved` "resolves_private".
- ``path``: "traversal", "encoded_traversal", "nul_byte", "system_path", "user_secret" (a home's
  dotfiles and app data), "unc_path", "outside_root".
- ``command``: "chaining", "substitution", "redirection", "argument_injection",
  "quote_breakout" (SQL-style breakouts), "encoded_injection".

Cost (all three detectors plus :func:`hostnames_to_resolve` on one text, p50, shared 2-core
machine): prose 8 us per KB and 6 ms per MB; JSON, code or prose dense with ``; & | $ % /``
20-24 us/KB and 11-15 ms/MB; 20-30 URLs per KB 30-60 us/KB and 19-24 ms/MB; the dev corpus'
negatives concatenated (URL-dense, percent-escapes, non-ASCII) 68 us/KB and 55 ms/MB; its
positives 510 us/KB and 190 ms/MB (every item a finding). 200 KB of adversarial near-matches
stay under 0.25 s. How: one RE2 pass of "gates" decides which ``re`` checks can fire at all
(command, path); ordinary ``https://host/`` URLs are recognised in one ``findall`` and their
distinct hosts cleared in one pass (SSRF); only the rest is parsed in Python.
"""

from __future__ import annotations

from middleware.guardrails.detectors.arguments_command import find_command_injection
from middleware.guardrails.detectors.arguments_path import find_path_traversal
from middleware.guardrails.detectors.arguments_ssrf import check_resolved, find_ssrf, hostnames_to_resolve

__all__ = [
    "check_resolved",
    "find_command_injection",
    "find_path_traversal",
    "find_ssrf",
    "hostnames_to_resolve",
]
