"""The run store: a run's folder (`folder`: its names, finding a run by name) and its SQLite
database (`database`: the only code that touches SQL). Readers go through `hpsearch.runs`."""
