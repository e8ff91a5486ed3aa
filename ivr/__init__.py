"""hotline: the telephony side (ARI + FastAGI adapters, call engine, ACD, data model)."""
