"""Where finished results are written besides PostgreSQL (Firestore, when configured)."""


def results_sink():
    return None
