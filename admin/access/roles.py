"""Roles and scoping: the ONE place that decides who may see or change what.

Every list, detail page and export goes through a `scope_*` helper (query filter) and every
change through `can(actor, action, obj)`. An operator is scoped to a region (a code prefix:
``410423`` is a county, ``410423100`` one of its townships) and department roles also to their
projects (the projects assigned to the operator, or else every project of the department).

Objects and what "inside the scope" means:

- batch: its region contains the actor's region (a county batch is visible to a clerk of one of
  its townships) or lies inside it; for department roles the batch's project must be theirs.
- payment line: its village lies inside the actor's region (a township clerk sees only the
  lines of that township, even in a county-wide batch), and the batch is in scope.
- person: registered in a village inside the actor's region.
- policy / project: its region contains or lies inside the actor's region; departments: their own.
- complaint (投诉举报, admin/complaints/): where it was filed (its region; none = the whole
  deployment) or the level it was referred to overlaps the actor's region; department roles see
  only their department's cases and those no department holds yet. A confidential tip-off is seen
  by the supervision roles (auditor, supervisor) only — never by a department, not even the one
  it names, nor by a system admin. Who may act on a case (``complaint.handle``) is its holder:
  the department holding it; with no department, the operators of the level it was referred to,
  or, not yet routed, any department of the region or the township clerk of the place; for a
  confidential tip-off, the supervisor.
- spot check (抽查, admin/supervision/spot_checks.py): the supervision roles (auditor, supervisor)
  see and act on the spot checks drawn inside their region; a finding's responsible unit — the
  department operators of its department, or the township clerk of its township/region — sees
  that finding (and the spot check's page, limited to its own findings) and reports rectification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, false, func, literal, or_, select

from admin.actions import WorkflowError
from admin.models import (
    AuditEntry,
    Batch,
    Complaint,
    Operator,
    OperatorProject,
    PaymentLine,
    Person,
    Policy,
    Project,
    SpotCheck,
    SpotFinding,
)

ROLE_LABELS: dict[str, str] = {
    "township_clerk": "乡镇（街道）经办员",
    "department_operator": "主管部门经办员",
    "department_reviewer": "主管部门审核员",
    "finance_reviewer": "财政部门复核员",
    "bank_operator": "代发金融机构经办员",
    "auditor": "审计监督",
    "supervisor": "纪检监察",
    "system_admin": "系统管理员",
}
ROLES = tuple(ROLE_LABELS)
DEPARTMENT_ROLES = frozenset({"department_operator", "department_reviewer"})
# 纪检/审计: read everything in their region; the only ones who see a confidential tip-off.
SUPERVISION_ROLES = frozenset({"auditor", "supervisor"})

# action → roles allowed (before the region / project scope is applied)
PERMISSIONS: dict[str, frozenset[str]] = {
    "batch.view": frozenset(ROLES),
    "batch.create": frozenset({"department_operator", "system_admin"}),
    "line.view": frozenset(ROLES) - {"bank_operator"},
    "line.edit": frozenset({"township_clerk", "department_operator", "system_admin"}),
    "line.flag": frozenset({"township_clerk", "department_operator", "department_reviewer", "system_admin"}),
    "roster.import": frozenset({"township_clerk", "department_operator", "system_admin"}),
    "policy.view": frozenset(ROLES),
    "policy.edit": frozenset({"department_operator", "system_admin"}),
    "policy.review": frozenset({"department_reviewer", "system_admin"}),
    "project.view": frozenset(ROLES),
    "project.edit": frozenset({"department_operator", "system_admin"}),
    "person.view": frozenset({"township_clerk", "department_operator", "department_reviewer",
                              "finance_reviewer", "auditor", "supervisor", "system_admin"}),
    "person.import": frozenset({"department_operator", "system_admin"}),
    "reference.import": frozenset({"department_operator", "system_admin"}),
    "operator.manage": frozenset({"system_admin"}),
    "audit.view": frozenset({"auditor", "supervisor", "system_admin"}),
    # the approval chain (admin/workflow.py); finance never edits a line, only passes or returns
    "batch.submit": frozenset({"township_clerk", "department_operator"}),
    "batch.review": frozenset({"department_reviewer"}),  # first review and approval (pass / return)
    "batch.publicity": frozenset({"department_operator", "department_reviewer"}),
    "batch.posting": frozenset({"township_clerk", "department_operator", "department_reviewer"}),
    "batch.finance": frozenset({"finance_reviewer"}),  # finance check and payment request
    "batch.cancel": frozenset({"department_operator"}),
    "deadline.edit": frozenset({"system_admin"}),
    # money out and back (admin/bank, admin/batches/results.py): bank files, results, corrections,
    # re-issue, return of unpayable money, publication of the results
    "batch.bank_export": frozenset({"bank_operator", "finance_reviewer"}),
    "batch.bank_import": frozenset({"bank_operator"}),
    "batch.correct": frozenset({"township_clerk", "department_operator"}),  # lines inside the actor's region
    "batch.reissue": frozenset({"department_operator"}),
    "batch.return_unpaid": frozenset({"department_operator"}),
    "batch.publish": frozenset({"department_operator", "department_reviewer"}),
    # complaints and tip-offs (admin/complaints/workflow.py): who reads the queue, who may hold a case
    "complaint.view": frozenset(ROLES) - {"bank_operator"},
    "complaint.handle": frozenset({"township_clerk", "department_operator", "department_reviewer", "supervisor"}),
    # spot checks (admin/supervision/spot_checks.py): the supervision roles draw samples and write
    # findings (and close them); the responsible unit reads its own findings and reports rectification
    "spot_check.view": frozenset({"auditor", "supervisor", "township_clerk", "department_operator"}),
    "spot_check.draw": frozenset({"auditor", "supervisor"}),
    "spot_check.finding": frozenset({"auditor", "supervisor"}),
    "spot_check.rectify": frozenset({"township_clerk", "department_operator"}),
    # supervision reports (admin/supervision/reports.py): read-only; department roles see their own department
    "report.view": frozenset({"auditor", "supervisor", "system_admin", "department_operator", "department_reviewer"}),
    # supervision (admin/supervision): anomaly signals — read by whoever reads the lines behind them
    # (scope_lines), reviewed only by the supervision roles; reference-list kinds are data
    "signal.view": frozenset(ROLES) - {"bank_operator"},
    "signal.review": frozenset({"auditor", "supervisor"}),
    "signal.refresh": frozenset({"auditor", "supervisor", "system_admin"}),
    "reference.kind.manage": frozenset({"system_admin"}),
}
# Workflow steps act on the batch as a whole: the batch must lie inside the actor's region (a
# township clerk submits a batch of that township, not a county-wide one).
BATCH_WORKFLOW_ACTIONS = frozenset({"batch.submit", "batch.review", "batch.publicity", "batch.finance",
                                    "batch.cancel", "batch.bank_export", "batch.bank_import", "batch.reissue",
                                    "batch.return_unpaid", "batch.publish"})
# Editing a batch's lines is only possible while it is still being entered.
EDITABLE_BATCH_STATES = frozenset({"draft", "returned"})
# Lines can be marked for re-check until the results are public.
FLAGGABLE_BATCH_STATES = frozenset({"draft", "returned", "submitted", "publicity", "approval", "finance_check"})


@dataclass(frozen=True)
class Actor:
    """The logged-in operator as the permission checks see it."""

    id: int
    username: str
    name: str
    role: str
    region_code: str
    department_id: int | None = None
    project_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def label(self) -> str:
        return f"{self.username}（{self.name}）"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def is_department(self) -> bool:
        return self.role in DEPARTMENT_ROLES


def actor_of(session: Any, operator: Operator) -> Actor:
    project_ids: set[int] = set(session.execute(
        select(OperatorProject.project_id).where(OperatorProject.operator_id == operator.id)
    ).scalars())
    if operator.role in DEPARTMENT_ROLES and not project_ids and operator.department_id is not None:
        project_ids = set(session.execute(
            select(Project.id).where(Project.department_id == operator.department_id)
        ).scalars())
    return Actor(operator.id, operator.username, operator.name, operator.role, operator.region_code,
                 operator.department_id, frozenset(project_ids))


def as_actor(session: Any, operator: Actor | Operator) -> Actor:
    """The actor an action is taken as: an :class:`Actor` as given, an operator's own (refused,
    :class:`admin.actions.WorkflowError` ``forbidden``, if the account is disabled)."""
    if isinstance(operator, Actor):
        return operator
    if not operator.active:
        raise WorkflowError("forbidden", "账号已停用。")
    return actor_of(session, operator)


# --- region arithmetic -------------------------------------------------------------------------


def region_inside(code: str | None, scope: str) -> bool:
    """`code` lies inside `scope` (or is it)."""
    return bool(code) and code.startswith(scope)  # type: ignore[union-attr]


def region_overlaps(code: str | None, scope: str) -> bool:
    """`code` lies inside `scope`, or contains it (a county batch seen by a township clerk)."""
    return bool(code) and (code.startswith(scope) or scope.startswith(code))  # type: ignore[union-attr]


def overlaps_clause(column: Any, scope: str) -> Any:
    """The query form of `region_overlaps`: `column` (a region code) inside `scope`, or containing it."""
    return or_(column.startswith(scope), literal(scope).startswith(column))


def scope_region_for(actor: Actor) -> str | None:
    """Lines entered by an operator must lie inside that operator's region."""
    return actor.region_code


# --- the check ---------------------------------------------------------------------------------


def allowed(actor: Actor, action: str) -> bool:
    return actor.role in PERMISSIONS.get(action, frozenset())


def can(actor: Actor | None, action: str, obj: Any = None) -> bool:
    """May `actor` do `action` (e.g. "line.edit") on `obj` (a model instance, or None for "any")?"""
    if actor is None or not allowed(actor, action):
        return False
    if obj is None:
        return True
    if isinstance(obj, PaymentLine):
        if not region_inside(obj.village_code, actor.region_code):
            return False
        if action == "line.edit" and obj.batch.state not in EDITABLE_BATCH_STATES:
            return False
        if action == "line.flag" and obj.batch.state not in FLAGGABLE_BATCH_STATES:
            return False
        return can(actor, "batch.view", obj.batch)
    if isinstance(obj, Batch):
        if not region_overlaps(obj.region_code, actor.region_code):
            return False
        if actor.is_department and obj.project_id not in actor.project_ids:
            return False
        if action in ("line.edit", "roster.import") and obj.state not in EDITABLE_BATCH_STATES:
            return False
        if action == "line.flag" and obj.state not in FLAGGABLE_BATCH_STATES:
            return False
        if action in BATCH_WORKFLOW_ACTIONS | {"batch.create"} and not region_inside(obj.region_code,
                                                                                    actor.region_code):
            return False
        return True
    if isinstance(obj, Project):
        if not region_overlaps(obj.region_code, actor.region_code):
            return False
        if actor.is_department and action != "project.view":
            return obj.department_id == actor.department_id
        if actor.is_department and action == "project.view":
            return obj.department_id == actor.department_id or obj.id in actor.project_ids
        return True
    if isinstance(obj, Policy):
        if not region_overlaps(obj.region_code, actor.region_code):
            return False
        if actor.is_department and action != "policy.view":
            return obj.department_id == actor.department_id
        return True
    if isinstance(obj, Person):
        return region_inside(obj.region_code, actor.region_code)
    if isinstance(obj, Operator):
        return region_inside(obj.region_code, actor.region_code)
    if isinstance(obj, Complaint):
        if action == "complaint.handle":
            return complaint_holder(actor, obj)
        return complaint_visible(actor, obj)
    if isinstance(obj, SpotCheck):  # draw / write findings: the sample lies inside the actor's region
        return region_inside(obj.region_code, actor.region_code)
    if isinstance(obj, SpotFinding):  # spot_check.rectify: the responsible unit
        return finding_responsible(actor, obj)
    if isinstance(obj, str):  # a region code (e.g. importing a reference list for a region)
        return region_inside(obj, actor.region_code)
    return False


# --- complaints ----------------------------------------------------------------------------------


def _blank_or_overlaps(code: str | None, scope: str) -> bool:
    return not code or region_overlaps(code, scope)


def complaint_visible(actor: Actor, case: Complaint) -> bool:
    """The Python twin of :func:`scope_complaints`."""
    if not allowed(actor, "complaint.view"):
        return False
    if not (_blank_or_overlaps(case.region_code, actor.region_code)
            or (case.handling_region and region_overlaps(case.handling_region, actor.region_code))):
        return False
    if case.confidential:
        return actor.role in SUPERVISION_ROLES
    if actor.is_department:
        return case.department_id is None or case.department_id == actor.department_id
    return True


def complaint_holder(actor: Actor, case: Complaint) -> bool:
    """Whether the actor holds the case (may accept, refer, handle, answer, close, reopen it)."""
    if not allowed(actor, "complaint.handle") or not complaint_visible(actor, case):
        return False
    if case.confidential:
        return actor.role == "supervisor"
    if actor.role == "supervisor":
        return False
    if case.department_id is not None:
        return actor.is_department and actor.department_id == case.department_id
    if case.handling_region:
        return actor.region_code == case.handling_region
    if actor.role == "township_clerk":
        return region_inside(case.region_code, actor.region_code)
    return actor.is_department


# --- query scoping (every list, detail and export) --------------------------------------------


def scope_batches(stmt: Select, actor: Actor) -> Select:
    if not allowed(actor, "batch.view"):
        return stmt.where(false())
    stmt = stmt.where(overlaps_clause(Batch.region_code, actor.region_code))
    if actor.is_department:
        stmt = stmt.where(Batch.project_id.in_(sorted(actor.project_ids) or [-1]))
    return stmt


def scope_lines(stmt: Select, actor: Actor) -> Select:
    """Lines of batches in scope, in villages inside the actor's region (stmt must join Batch)."""
    if not allowed(actor, "line.view"):
        return stmt.where(false())
    stmt = stmt.where(PaymentLine.village_code.startswith(actor.region_code))
    return scope_batches(stmt, actor)


def scope_persons(stmt: Select, actor: Actor) -> Select:
    if not allowed(actor, "person.view"):
        return stmt.where(false())
    return stmt.where(Person.region_code.startswith(actor.region_code))


def scope_policies(stmt: Select, actor: Actor) -> Select:
    return stmt.where(overlaps_clause(Policy.region_code, actor.region_code))


def scope_projects(stmt: Select, actor: Actor) -> Select:
    stmt = stmt.where(overlaps_clause(Project.region_code, actor.region_code))
    if actor.is_department:
        stmt = stmt.where(or_(Project.department_id == (actor.department_id or -1),
                              Project.id.in_(sorted(actor.project_ids) or [-1])))
    return stmt


def scope_complaints(stmt: Select, actor: Actor) -> Select:
    """Complaints the actor may see (lists, JSON, exports, statistics, search): see the module doc."""
    if not allowed(actor, "complaint.view"):
        return stmt.where(false())
    region = func.coalesce(Complaint.region_code, "")
    stmt = stmt.where(or_(region == "", overlaps_clause(region, actor.region_code),
                          and_(Complaint.handling_region != "",
                               overlaps_clause(Complaint.handling_region, actor.region_code))))
    if actor.role in SUPERVISION_ROLES:
        return stmt
    stmt = stmt.where(Complaint.confidential.is_(False))
    if actor.is_department:
        stmt = stmt.where(or_(Complaint.department_id.is_(None), Complaint.department_id == (actor.department_id or -1)))
    return stmt


def scope_operators(stmt: Select, actor: Actor) -> Select:
    if not allowed(actor, "operator.manage"):
        return stmt.where(Operator.id == actor.id)
    return stmt.where(Operator.region_code.startswith(actor.region_code))


def scope_audit(stmt: Select, actor: Actor) -> Select:
    if not allowed(actor, "audit.view"):
        return stmt.where(false())
    return stmt.where(or_(AuditEntry.region_code.startswith(actor.region_code),
                          func.length(AuditEntry.region_code) == 0) if actor.role == "system_admin"
                      else AuditEntry.region_code.startswith(actor.region_code))


# --- spot checks and findings (admin/supervision/spot_checks.py) ---------------------------------


def finding_responsible(actor: Actor, finding: SpotFinding) -> bool:
    """The unit that must rectify a finding: a department operator of its department, or the
    township clerk of its township/region."""
    if not allowed(actor, "spot_check.rectify") or finding.result != "problem":
        return False
    if finding.department_id is not None:
        return actor.role == "department_operator" and actor.department_id == finding.department_id
    return actor.role == "township_clerk" and bool(finding.responsible_region) and \
        actor.region_code == finding.responsible_region


def scope_spot_checks(stmt: Select, actor: Actor) -> Select:
    """Spot checks a supervision role may see (drawn inside its region); nobody else lists them."""
    if actor.role not in SUPERVISION_ROLES:
        return stmt.where(false())
    return stmt.where(SpotCheck.region_code.startswith(actor.region_code))


def scope_findings(stmt: Select, actor: Actor) -> Select:
    """Findings the actor may see (stmt must join SpotCheck): the supervision roles those of their
    spot checks; a responsible unit its own (a department's, or its township's)."""
    if actor.role in SUPERVISION_ROLES:
        return scope_spot_checks(stmt, actor)
    if actor.role == "department_operator":
        return stmt.where(SpotFinding.result == "problem", SpotFinding.department_id == (actor.department_id or -1))
    if actor.role == "township_clerk":
        return stmt.where(SpotFinding.result == "problem", SpotFinding.department_id.is_(None),
                          SpotFinding.responsible_region == actor.region_code)
    return stmt.where(false())
