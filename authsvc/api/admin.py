"""Admin operations over HTTP, for tokens with the admin role: the CLI's `users` commands.

A path names a user by id only; `GET /admin/users?username=` finds the id of a username.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from authsvc.api.admission import PASSWORD_SLOT
from authsvc.api.deps import AdminSession, ClientDep, DbDep, RuntimeDep
from authsvc.api.schemas import (
    AdminEmailRequest,
    AdminPasswordRequest,
    AdminUserOut,
    DeviceOut,
    ErrorResponse,
    RolesRequest,
    SessionsResponse,
    UserPageResponse,
)
from authsvc.services import admin, sessions
from authsvc.services.admin import UserRef
from authsvc.storage.models import User

router = APIRouter(prefix="/admin", tags=["admin"])

UserId = Annotated[
    str,
    Path(description="The user's id (never a username: `GET /admin/users?username=` finds it)."),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}


@router.get(
    "/users",
    response_model=UserPageResponse,
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
    summary="Users in username order, a page at a time",
)
def list_users(
    db: DbDep,
    authenticated: AdminSession,
    query: Annotated[
        str | None,
        Query(
            max_length=254,
            description="Only users whose username or email address contains this text.",
        ),
    ] = None,
    username: Annotated[
        str | None, Query(max_length=150, description="Only the user with exactly this username.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Users on one page.")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the page before; none for the first."),
    ] = None,
) -> UserPageResponse:
    page = admin.list_users(db, query=query, username=username, limit=limit, cursor=cursor)
    return UserPageResponse(users=[_out(user) for user in page.users], next_cursor=page.next_cursor)


def _out(user: User) -> AdminUserOut:
    return AdminUserOut(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        roles=user.roles,
        disabled=user.disabled,
        created_at=user.created_at,
    )


def _act(
    action: admin.UserAction,
    user_id: str,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> AdminUserOut:
    user = admin.find_user(db, UserRef.by_id(user_id))
    action(db, user, actor=authenticated.user.id, client=client, now=runtime.clock.now())
    db.commit()
    return _out(user)


@router.post(
    "/users/{user}/disable",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Disable a user: no login, every token revoked at once",
)
def disable_user(
    user: UserId, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.disable, user, runtime, db, client, authenticated)


@router.post(
    "/users/{user}/enable",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Enable a disabled user again",
)
def enable_user(
    user: UserId, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.enable, user, runtime, db, client, authenticated)


@router.post(
    "/users/{user}/revoke",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="Revoke every token and end every session of a user",
)
def revoke_user(
    user: UserId, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> AdminUserOut:
    return _act(admin.revoke, user, runtime, db, client, authenticated)


@router.get(
    "/users/{user}",
    response_model=AdminUserOut,
    responses=_ERRORS,
    summary="One user",
)
def get_user(user: UserId, db: DbDep, authenticated: AdminSession) -> AdminUserOut:
    return _out(admin.find_user(db, UserRef.by_id(user)))


@router.post(
    "/users/{user}/password",
    dependencies=[PASSWORD_SLOT],
    response_model=AdminUserOut,
    responses={**_ERRORS, 400: {"model": ErrorResponse}},
    summary="Set a user's password (the policy applies); every token and session of theirs ends",
)
def set_password(
    user: UserId,
    body: AdminPasswordRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> AdminUserOut:
    target = admin.find_user(db, UserRef.by_id(user))
    admin.change_password(
        db,
        target,
        body.password,
        runtime.passwords,
        actor=authenticated.user.id,
        client=client,
        now=runtime.clock.now(),
    )
    db.commit()
    return _out(target)


@router.put(
    "/users/{user}/roles",
    response_model=AdminUserOut,
    responses={**_ERRORS, 400: {"model": ErrorResponse}},
    summary="Set a user's roles; tokens carrying the old ones are refused from now on",
)
def set_roles(
    user: UserId,
    body: RolesRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> AdminUserOut:
    target = admin.find_user(db, UserRef.by_id(user))
    admin.set_roles(
        db, target, body.roles, actor=authenticated.user.id, client=client, now=runtime.clock.now()
    )
    db.commit()
    return _out(target)


@router.put(
    "/users/{user}/email",
    response_model=AdminUserOut,
    responses={**_ERRORS, 400: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Set or remove a user's email address; a new address ends every token and session",
)
def set_email(
    user: UserId,
    body: AdminEmailRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> AdminUserOut:
    target = admin.find_user(db, UserRef.by_id(user))
    admin.change_email(
        db,
        target,
        body.email,
        verified=body.verified,
        actor=authenticated.user.id,
        client=client,
        now=runtime.clock.now(),
    )
    db.commit()
    return _out(target)


@router.delete(
    "/users/{user}",
    status_code=204,
    response_class=Response,
    responses=_ERRORS,
    summary="Delete a user, their sessions and refresh tokens; the audit trail keeps a pseudonym",
)
def delete_user(
    user: UserId, runtime: RuntimeDep, db: DbDep, client: ClientDep, authenticated: AdminSession
) -> Response:
    target = admin.find_user(db, UserRef.by_id(user))
    admin.delete_user(
        db, target, actor=authenticated.user.id, client=client, now=runtime.clock.now()
    )
    db.commit()
    return Response(status_code=204)


@router.get(
    "/users/{user}/sessions",
    response_model=SessionsResponse,
    responses=_ERRORS,
    summary="A user's live sessions",
)
def user_sessions(
    user: UserId, runtime: RuntimeDep, db: DbDep, authenticated: AdminSession
) -> SessionsResponse:
    target = admin.find_user(db, UserRef.by_id(user))
    rows = sessions.list_alive(db, target.id, now=runtime.clock.now())
    return SessionsResponse(
        sessions=[
            DeviceOut.model_validate(sessions.describe(row, authenticated.claims.sid))
            for row in rows
        ]
    )
