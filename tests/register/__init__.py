from datetime import UTC
from datetime import datetime

#: the clock of the bulk import tests: the seed's and the import's "now"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
