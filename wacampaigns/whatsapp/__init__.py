"""The Cloud API boundary: client, typed errors, payload builders, webhook signatures and event parsing."""
