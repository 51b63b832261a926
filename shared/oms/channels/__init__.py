"""Channel adapters: each turns a channel's own payload into an OrderDraft."""
