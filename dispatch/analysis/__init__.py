"""Where problems keep coming back (高发问题分析): recurrence, hot spots, anomalies and time patterns, counted from
the roll-up kept hourly (`rollups.py`) or from the cases as they are now. The statistics (Getis-Ord Gi*, the exact
tests, the Benjamini–Hochberg correction) are in `stats.py`, pure functions of counts; the SQL that counts is in
`queries.py`."""
