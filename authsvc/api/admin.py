"""Admin operations over HTTP, for tokens with the admin role: the CLI's `users` commands."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from authsvc.api.deps import AdminSession, ClientDep, DbDep, RuntimeDep
from authsvc.api.schemas import AdminUserOut, DeviceOut, ErrorResponse, SessionsResponse
from authsvc.services import admin, sessions
from authsvc.storage.models import User

router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}


def _out(user: User) -> AdminUserOut:
    return AdminUserOut(
        id=user.id, username=user.username, roles=user.roles, disabled=user.disabled
    )


def _act(
    action: admin.UserAction,
    user_ref: str,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> AdminUserOut:
    user = admin.find_user(db, user_ref)
    action(db, user, actor=authenticated.user.id, client=client, now=runtime.clock.now())
    db.commit()
    return _out(user)


@router.post(
    "/users/{user}/disable",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Disable a user (by id or username): no login, every token revoked at once",
)
def disable_user(
    user: str, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.disable, user, runtime, db, client, authenticated)


@router.post(
    "/users/{user}/enable",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Enable a disabled user again",
)
def enable_user(
    user: str, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.enable, user, runtime, db, client, authenticated)


@router.post(
    "/users/{user}/revoke",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Revoke every token and end every session of a user",
)
def revoke_user(
    user: str, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.revoke, user, runtime, db, client, authenticated)


@router.get(
    "/users/{user}/sessions",
    response_model=SessionsResponse,
    responses=_ERRORS,
    summary="A user's live sessions",
)
def user_sessions(
    user: str, runtime: RuntimeDep, db: DbDep, authenticated: AdminSession
) -> SessionsResponse:
    target = admin.find_user(db, user)
    rows = sessions.list_alive(db, target.id, now=runtime.clock.now())
    return SessionsResponse(
        sessions=[
            DeviceOut.model_validate(sessions.describe(row, authenticated.claims.sid))
            for row in rows
        ]
    )
