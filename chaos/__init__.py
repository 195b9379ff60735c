"""``make chaos``: faults injected into the running pipeline, and what each one cost."""
