"""Who a verified token names, and what they may do: :class:`Identity`.

- **User name**: the claim ``username_claim`` (``preferred_username``), else ``sub``. Labels the user saves are
  stored under it, so it must be usable as a reader's tag (:func:`lib.readers.is_reader_tag`, no path characters).
- **Roles**: the list at ``roles_claim`` (a claim name, e.g. ``roles`` or ``https://x/roles``, or a path through
  objects such as Keycloak's ``realm_access.roles`` / MONAI Label's ``realm_access#roles``; a space-separated
  string is read as a list). Two roles are the app's:

  ===========  ===============================================================  =================================
  role         may                                                              MONAI Label roles granted
  ===========  ===============================================================  =================================
  reader       infer, Next Sample, read the datastore, save and remove their    user, annotator
               own labels
  admin        all of the above, and train, delete images / labels, anyone's    user, annotator, reviewer, admin
               lesion, read the audit log
  ===========  ===============================================================  =================================

  MONAI Label's own role names (``MONAI_LABEL_AUTH_ROLE_*``, ``monailabel-user`` ...) in a token keep their meaning
  (a realm set up for MONAI Label goes on working); its admin role counts as the app's admin, its annotator role as
  a reader. MONAI Label's endpoints then ask for their role as they always do (``RBAC``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.identity.settings import SignInSettings

__all__ = ["Identity", "NotAUser", "identity_from_claims"]


class NotAUser(ValueError):
    """A valid token that names no usable user (the server answers 403)."""


@dataclass(frozen=True)
class Identity:
    """A signed-in user: ``roles`` are MONAI Label's role names this identity holds (what its ``RBAC`` checks)."""

    username: str
    roles: frozenset[str]
    is_reader: bool
    is_admin: bool
    email: str | None = None
    name: str | None = None


def _monailabel_roles() -> dict[str, str]:
    from monailabel.config import settings

    return {"user": settings.MONAI_LABEL_AUTH_ROLE_USER, "annotator": settings.MONAI_LABEL_AUTH_ROLE_ANNOTATOR,
            "reviewer": settings.MONAI_LABEL_AUTH_ROLE_REVIEWER, "admin": settings.MONAI_LABEL_AUTH_ROLE_ADMIN}


def _claim(claims: dict, path: str) -> object:
    if path in claims:
        return claims[path]
    value: object = claims
    for key in path.replace("#", ".").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def token_roles(claims: dict, path: str) -> frozenset[str]:
    """The role names at ``path`` (empty when absent)."""
    value = _claim(claims, path)
    if isinstance(value, str):
        value = value.split()
    return frozenset(r for r in value if isinstance(r, str)) if isinstance(value, list) else frozenset()


def identity_from_claims(claims: dict, settings: SignInSettings) -> Identity:
    """The :class:`Identity` of a verified token's claims (module docstring).

    Raises:
        NotAUser: the token names no user, or one whose name cannot be a reader's tag.
    """
    from lib.readers import is_reader_tag
    from lib.safety.names import UnsafeNameError, check_name

    username = claims.get(settings.username_claim) or claims.get("sub")
    if not isinstance(username, str) or not username.strip():
        raise NotAUser(f"the token names no user (no {settings.username_claim!r} or 'sub' claim)")
    username = username.strip()
    try:
        check_name("user name", username)
    except UnsafeNameError as exc:
        raise NotAUser(str(exc)) from None
    if not is_reader_tag(username):
        raise NotAUser(f"user name {username!r} is reserved for the app's own labels: it cannot name a reader")
    held = token_roles(claims, settings.roles_claim)
    ml = _monailabel_roles()
    is_admin = settings.admin_role in held or ml["admin"] in held
    is_reader = is_admin or settings.reader_role in held or ml["annotator"] in held
    granted = set(held & set(ml.values()))
    if is_reader:
        granted |= {ml["user"], ml["annotator"]}
    if is_admin:
        granted |= set(ml.values())
    email, name = claims.get("email"), claims.get("name")
    return Identity(username, frozenset(granted), is_reader, is_admin,
                    email if isinstance(email, str) else None, name if isinstance(name, str) else None)
