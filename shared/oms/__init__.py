"""The OMS layer: settings, observability, models, domain, ports and adapters."""
