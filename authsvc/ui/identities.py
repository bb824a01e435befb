"""POST /ui/account/identities/{id}/remove: unlinking an external identity from the account page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.mfa import reissue
from authsvc.errors import LastSignInMethod, NotFound, StepUpRequired
from authsvc.federation import service as federation
from authsvc.ui.account import signed_out
from authsvc.ui.forms import ACCOUNT_PAGE, see_other
from authsvc.ui.guard import SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.post("/account/identities/{identity_id}/remove")
def unlink_identity(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    identity_id: Annotated[str, Path(max_length=36)],
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    now = runtime.clock.now()
    try:
        runtime.mfa.require_step_up(db, current.user.id, current.claims, now)
        user = federation.unlink(
            db, current.user.id, identity_id, client, now=now, keep_session=current.claims.sid
        )
    except StepUpRequired:
        return see_other(ACCOUNT_PAGE, notice="step-up")
    except LastSignInMethod:
        return see_other(ACCOUNT_PAGE, notice="provider-last-way")
    except NotFound:
        return see_other(ACCOUNT_PAGE)
    response = see_other(ACCOUNT_PAGE, notice="provider-unlinked")
    reissue(runtime, db, request, response, user, current.claims.sid)
    db.commit()
    return response
