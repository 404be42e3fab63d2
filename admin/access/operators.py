"""Real-name operator accounts (操作员): creation, passwords (argon2), lockout.

Every change is recorded in the audit trail in the same transaction.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from admin.access.roles import DEPARTMENT_ROLES, ROLE_LABELS
from admin.audit import trail
from admin.fieldcrypt import cipher
from admin.models import Department, Operator, OperatorProject, Project
from core.config import Config
from core.timeutil import local, now
from core.validation import check_id_number, check_name, check_phone, normalize_id_number, normalize_phone

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


class OperatorError(ValueError):
    """A change to an operator account that cannot be made (Chinese message)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_hash(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> str | None:
    """A Chinese reason why the password is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少{MIN_PASSWORD_LENGTH}位"
    kinds = sum(bool(any(test(ch) for ch in password)) for test in (str.isdigit, str.islower, str.isupper))
    kinds += any(not ch.isalnum() for ch in password)
    if kinds < 3:
        return "密码须包含大写字母、小写字母、数字、符号中的至少三种"
    return None


def snapshot(operator: Operator) -> dict[str, Any]:
    """Audit view of an account (no password hash, no ID number)."""
    return {"username": operator.username, "name": operator.name, "role": operator.role,
            "region_code": operator.region_code, "department_id": operator.department_id,
            "unit": operator.unit, "active": operator.active}


def id_last4(config: Config, operator: Operator) -> str:
    """The last 4 characters of the operator's ID number (the full number is never shown)."""
    if not operator.id_number_enc:
        return ""
    try:
        return cipher(config.field_key).decrypt(operator.id_number_enc)[-4:]
    except ValueError:
        return "????"


def project_ids_of(session: Session, operator: Operator) -> list[int]:
    return sorted(session.execute(select(OperatorProject.project_id)
                                  .where(OperatorProject.operator_id == operator.id)).scalars())


def temporary_password() -> str:
    """A random password meeting the strength rule (shown once to the admin who reset it)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(secrets.choice(alphabet) for _ in range(12))
        candidate = body[:6] + "-" + body[6:]
        if check_password_strength(candidate) is None:
            return candidate


def _check_region(region_code: str) -> str:
    region_code = region_code.strip()
    if not region_code.isdigit() or len(region_code) not in (2, 4, 6, 9, 12):
        raise OperatorError("所属区划代码应为2、4、6、9或12位数字")
    return region_code


def _department_id(session: Session, role: str, department_code: str | None) -> int | None:
    if role in DEPARTMENT_ROLES and not department_code:
        raise OperatorError("主管部门的角色必须指定所属部门")
    if not department_code:
        return None
    department = session.execute(select(Department).where(Department.code == department_code)).scalar_one_or_none()
    if department is None:
        raise OperatorError(f"找不到部门 {department_code}")
    return department.id


def update_operator(session: Session, operator: Operator, *, actor: str, role: str, region_code: str,
                    department_code: str | None, project_ids: Sequence[int], unit: str | None = None,
                    phone: str | None = None) -> None:
    """Change role, region, department, projects (and unit/phone); one audit entry with before/after."""
    if role not in ROLE_LABELS:
        raise OperatorError("未知角色：" + role)
    region_code = _check_region(region_code)
    if phone and check_phone(phone):
        raise OperatorError("手机号码有误")
    department_id = _department_id(session, role, department_code)
    for project_id in project_ids:
        if session.get(Project, project_id) is None:
            raise OperatorError(f"找不到项目 {project_id}")
    before = {**snapshot(operator), "projects": project_ids_of(session, operator)}
    operator.role = role
    operator.region_code = region_code
    operator.department_id = department_id
    if unit is not None:
        operator.unit = unit.strip()[:100]
    if phone is not None:
        operator.phone = normalize_phone(phone)
    session.execute(delete(OperatorProject).where(OperatorProject.operator_id == operator.id))
    for project_id in sorted(set(project_ids)):
        session.add(OperatorProject(operator_id=operator.id, project_id=project_id))
    session.flush()
    after = {**snapshot(operator), "projects": sorted(set(project_ids))}
    if before != after:
        trail.record(session, actor=actor, action="operator.update", object_type="operator",
                     object_id=operator.id, region_code=operator.region_code, before=before, after=after)


def unlock(session: Session, operator: Operator, *, actor: str) -> None:
    before = {"locked_until": format_locked_until(operator.locked_until), "failed_logins": operator.failed_logins}
    operator.locked_until = None
    operator.failed_logins = 0
    trail.record(session, actor=actor, action="operator.unlock", object_type="operator", object_id=operator.id,
                 region_code=operator.region_code, before=before, after={"locked_until": "", "failed_logins": 0})


def create_operator(
    session: Session,
    config: Config,
    *,
    actor: str,
    username: str,
    name: str,
    role: str,
    region_code: str,
    password: str,
    id_number: str | None = None,
    phone: str = "",
    unit: str = "",
    department_code: str | None = None,
    project_ids: Sequence[int] = (),
    must_change_password: bool = True,
    password_hash: str | None = None,
) -> Operator:
    """A new account. `password_hash` (an argon2 hash made earlier) spares the hashing when many
    accounts are created at once with the same initial password (demo data, test fixtures)."""
    username = username.strip()
    if not username or not username.isascii() or not username.replace("_", "").replace(".", "").isalnum():
        raise OperatorError("用户名只能由字母、数字、下划线和点组成")
    if len(username) > 64:
        raise OperatorError("用户名不能超过64个字符")
    if role not in ROLE_LABELS:
        raise OperatorError("未知角色：" + role + "（可选：" + "、".join(ROLE_LABELS) + "）")
    region_code = _check_region(region_code)
    if check_name(name):
        raise OperatorError("姓名须为真实姓名（汉字）")
    if id_number and check_id_number(id_number):
        raise OperatorError("身份证号码有误")
    if phone and check_phone(phone):
        raise OperatorError("手机号码有误")
    weak = check_password_strength(password)
    if weak:
        raise OperatorError(weak)
    if session.execute(select(Operator.id).where(Operator.username == username)).first():
        raise OperatorError(f"用户名 {username} 已被使用")
    department_id = _department_id(session, role, department_code)
    operator = Operator(
        username=username, name=name.strip(), role=role, region_code=region_code,
        id_number_enc=cipher(config.field_key).encrypt(normalize_id_number(id_number)) if id_number else None,
        phone=normalize_phone(phone), unit=unit, department_id=department_id,
        password_hash=password_hash or hash_password(password), must_change_password=must_change_password,
        failed_logins=0, active=True,
    )
    session.add(operator)
    session.flush()
    for project_id in project_ids:
        if session.get(Project, project_id) is None:
            raise OperatorError(f"找不到项目 {project_id}")
        session.add(OperatorProject(operator_id=operator.id, project_id=project_id))
    trail.record(session, actor=actor, action="operator.create", object_type="operator",
                 object_id=operator.id, region_code=region_code, after=snapshot(operator))
    return operator


class LoginResult:
    def __init__(self, operator: Operator | None, message: str | None) -> None:
        self.operator = operator
        self.message = message


def authenticate(session: Session, username: str, password: str) -> LoginResult:
    """Check a login; counts failures and locks the account for 15 minutes after 5 of them."""
    generic = "用户名或密码错误"
    operator = session.execute(select(Operator).where(Operator.username == username.strip())).scalar_one_or_none()
    if operator is None or not operator.active:
        try:  # same work as a real check, so timing does not reveal which usernames exist
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass
        return LoginResult(None, generic)
    current = now()
    if operator.locked_until is not None and local(operator.locked_until) > current:
        minutes = max(1, int((local(operator.locked_until) - current).total_seconds() // 60) + 1)
        return LoginResult(None, f"连续输错密码次数过多，账号已锁定，请约{minutes}分钟后再试")
    try:
        _hasher.verify(operator.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        operator.failed_logins = (operator.failed_logins or 0) + 1
        if operator.failed_logins >= MAX_FAILED_LOGINS:
            operator.locked_until = current + LOCKOUT
            operator.failed_logins = 0
            trail.record(session, actor=operator.username, action="operator.locked", object_type="operator",
                         object_id=operator.id, region_code=operator.region_code)
            return LoginResult(None, "连续输错密码5次，账号已锁定15分钟")
        left = MAX_FAILED_LOGINS - operator.failed_logins
        return LoginResult(None, f"{generic}，再输错{left}次账号将被锁定15分钟")
    operator.failed_logins = 0
    operator.locked_until = None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    trail.record(session, actor=operator.username, action="operator.login", object_type="operator",
                 object_id=operator.id, region_code=operator.region_code)
    return LoginResult(operator, None)


@cache
def _dummy_hash() -> str:
    """A hash to check unknown usernames against; made on first use, not when the module is
    imported (every `yikatong` command imports it)."""
    return _hasher.hash("dummy-password-for-timing")


def change_password(session: Session, operator: Operator, old: str, new: str) -> None:
    try:
        _hasher.verify(operator.password_hash, old)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise OperatorError("原密码不正确") from None
    if old == new:
        raise OperatorError("新密码不能与原密码相同")
    weak = check_password_strength(new)
    if weak:
        raise OperatorError(weak)
    operator.password_hash = hash_password(new)
    operator.must_change_password = False
    trail.record(session, actor=operator.username, action="operator.password_change", object_type="operator",
                 object_id=operator.id, region_code=operator.region_code)


def set_active(session: Session, operator: Operator, active: bool, *, actor: str) -> None:
    before = snapshot(operator)
    operator.active = active
    trail.record(session, actor=actor, action="operator.activate" if active else "operator.deactivate",
                 object_type="operator", object_id=operator.id, region_code=operator.region_code,
                 before=before, after=snapshot(operator))


def reset_password(session: Session, operator: Operator, password: str, *, actor: str) -> None:
    weak = check_password_strength(password)
    if weak:
        raise OperatorError(weak)
    operator.password_hash = hash_password(password)
    operator.must_change_password = True
    operator.failed_logins = 0
    operator.locked_until = None
    trail.record(session, actor=actor, action="operator.password_reset", object_type="operator",
                 object_id=operator.id, region_code=operator.region_code,
                 after={"must_change_password": True})


def set_projects(session: Session, operator: Operator, project_ids: Sequence[int], *, actor: str) -> None:
    before = sorted(session.execute(select(OperatorProject.project_id)
                                    .where(OperatorProject.operator_id == operator.id)).scalars())
    session.execute(delete(OperatorProject).where(OperatorProject.operator_id == operator.id))
    for project_id in sorted(set(project_ids)):
        session.add(OperatorProject(operator_id=operator.id, project_id=project_id))
    trail.record(session, actor=actor, action="operator.projects", object_type="operator", object_id=operator.id,
                 region_code=operator.region_code, before={"projects": before},
                 after={"projects": sorted(set(project_ids))})


def locked(operator: Operator) -> bool:
    return operator.locked_until is not None and local(operator.locked_until) > now()


def format_locked_until(value: datetime | None) -> str:
    return "" if value is None else local(value).strftime("%H:%M")
