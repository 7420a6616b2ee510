"""ses-ramp's worker side: the Celery app, the budget gate, transports and operator tools."""
