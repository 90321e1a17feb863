"""The live driving loop moved to ``feedhandlers.live`` (shared with the feed service); re-exported here."""
from feedhandlers.live import (LAT_MAX_NS, LINE_NAMES, Line, LineWatch, Listener, describe_filtered,  # noqa: F401
                               filtered, line, new_histogram, percentiles, session_stats)
