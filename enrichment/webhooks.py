def job_status_changed(job) -> None:
    """Called on every terminal or paused status; webhook delivery hooks in here."""
