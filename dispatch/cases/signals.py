"""What happens to cases, announced to whoever listens (blinker signals): the workflow and the sweep say what they
did, and the features that act on it (notifications today) subscribe, so the loop never imports them. Receivers run
in the sender's transaction (the session is the sender): what they write commits or rolls back with the move.

Every signal carries `now` and the ids of the cases concerned.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# A department has new work: `department_code`, `case_ids` (a dispatch, automatic or by the dispatcher).
work_arrived = _signals.signal("work-arrived")

# The sweep moved lights: `light` (yellow: past the warning time; red: past the deadline), `case_ids` (all of them)
# and `by_department` ({department code: its case ids}).
lights_changed = _signals.signal("lights-changed")

# The sweep found suspended cases whose suspensions in all reached CITYMGMT_MAX_SUSPENSION_DAYS: `case_ids`,
# `settings` (the workflow resumes them: the sweep may not make moves itself).
suspension_cap_reached = _signals.signal("suspension-cap-reached")
