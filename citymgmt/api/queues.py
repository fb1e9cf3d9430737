"""/api/v1/queues/mine: the caller's work, soonest deadline first."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from citymgmt.api.cases import COUNT_AHEAD, TOTAL_EXACT, CaseSummarySchema
from citymgmt.core.access import allow_signed_in, current_user
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from dispatch.workflow.queues import my_queue

blp = Blueprint("queues", __name__, description="Work queues (待办)")


class QueueItemSchema(CaseSummarySchema):
    task = ma.fields.String(
        metadata={
            "description": "What is expected of the caller: handle, reply, awaiting_approval (handlers); verify, "
            "check (inspectors, in their cells); dispatch, approve (dispatchers); accept, file, close, "
            "request_check (operators and shift leaders); overdue (supervisors: red and not yet escalated)"
        }
    )
    escalated = ma.fields.Boolean()
    pending_request = ma.fields.Dict(allow_none=True)


@blp.get("/mine")
@blp.response(200, QueueItemSchema(many=True), headers=TOTAL_EXACT)
@blp.paginate(page_size=50, max_page_size=500)
@allow_signed_in
def mine(pagination_parameters: Any) -> Any:
    """The cases waiting for the caller, each with its task, soonest deadline first, with lights. X-Pagination's
    total is exact up to 10,000 cases past the page, a lower bound beyond (X-Total-Exact says which)."""
    user = current_user()
    assert user is not None
    items, total, exact = my_queue(
        db.session(),
        user,
        current_settings(),
        offset=pagination_parameters.first_item,
        limit=pagination_parameters.page_size,
        count_ahead=COUNT_AHEAD,
    )
    pagination_parameters.item_count = total
    return items, 200, {"X-Total-Exact": "true" if exact else "false"}
