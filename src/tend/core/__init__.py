"""Everything that runs offline, in wings (docs/architecture.md draws them): the keyless log,
crypto, the domain, the views, the trust engine and the journal, over a few shared basics.
No network, no asyncio."""
