"""Person registry pages (人员信息库): search, a person's card history, the registry import, and
putting persons on a reference list (bulk action, after confirmation)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.web import route

from admin.access import roles
from admin.access.auth import current_actor
from admin.batches.imports import import_slots
from admin.batches.rosters import MAX_FILE_BYTES, RosterFileError
from admin.library import references
from admin.models import Person
from admin.people import persons
from admin.web import (
    AdminError,
    as_id,
    flash,
    form_data,
    json_response,
    not_found,
    path_id,
    read_upload,
    redirect,
    render,
    services,
    wants_json,
)


async def person_search(request: Request) -> Response:
    actor = await current_actor(request, "person.view")
    q = request.query_params.get("q", "")[:40]
    config = services(request).config
    found = await services(request).db.run(lambda s: persons.search(s, config, actor, q)) if q.strip() else []
    kinds = await services(request).db.run(references.list_kinds)
    if wants_json(request):
        return json_response({"q": q, "persons": [{
            "id": p.id, "name": p.name, "id_last4": p.id_last4, "sex": p.sex, "region_code": p.region_code,
            "cards": [{"last4": c.card_last4, "bank": c.bank_name, "status": c.status} for c in p.cards]}
            for p in found]})
    return render(request, "people/persons.html", {"q": q, "persons": found,
                                                   "can_import": roles.allowed(actor, "person.import"),
                                                   "list_kinds": kinds})


async def person_detail(request: Request) -> Response:
    actor = await current_actor(request, "person.view")
    person_id = path_id(request, "person_id")

    def load(session: Any) -> Person:
        person = session.execute(roles.scope_persons(select(Person).where(Person.id == person_id), actor)
                                 .options(selectinload(Person.cards))).scalar_one_or_none()
        if person is None:
            raise not_found()
        return person

    person = await services(request).db.run(load)
    return render(request, "people/person.html", {"person": person, "cards": persons.card_history(person)})


async def person_import(request: Request) -> Response:
    actor = await current_actor(request, "person.import")
    _form, data, filename = await read_upload(request, MAX_FILE_BYTES)
    config = services(request).config
    try:
        with import_slots.acquire(actor.id):
            outcome = await services(request).db.run(lambda s: persons.import_registry(
                s, config, data, filename, actor=actor.username, scope_region=actor.region_code))
    except RosterFileError as exc:
        flash(request, "文件无法导入：" + exc.message, "error")
        return redirect("/persons")
    if outcome.errors:
        shown = "；".join(f"第{n}行：{m}" for n, m in outcome.errors[:20])
        flash(request, f"{len(outcome.errors)} 行有问题，整个文件未导入。{shown}", "error")
    else:
        flash(request, f"已导入：新增 {outcome.persons_created} 人，更新 {outcome.persons_updated} 人，"
                       f"新登记社保卡 {outcome.cards_created} 张")
    return redirect("/persons")


async def persons_bulk(request: Request) -> Response:
    """Put the checked persons on a reference list (e.g. 死亡人员): a confirmation page first."""
    actor = await current_actor(request, "reference.import")
    form = await form_data(request)
    kind = str(form.get("list_kind", ""))
    kinds = await services(request).db.run(references.list_kinds)
    if kind not in kinds:
        raise AdminError(400, "bad_list_kind", "请选择名单类型")
    ids = sorted({int(v) for v in form.getlist("person_id") if as_id(v) is not None})[:500]
    if not ids:
        flash(request, "请先勾选人员", "error")
        return redirect("/persons")
    confirmed = form.get("confirm") == "yes"
    note = str(form.get("note", "")).strip()[:200]
    label = "加入" + kinds[kind] + "名单"

    def run(session: Any) -> Any:
        found = list(session.execute(roles.scope_persons(select(Person).where(Person.id.in_(ids)), actor)
                                     .order_by(Person.name, Person.id)).scalars())
        if len(found) != len(ids) or not all(roles.can(actor, "reference.import", p.region_code) for p in found):
            raise not_found()
        if not confirmed:
            return found
        return references.add_persons(session, found, actor=actor.username, list_kind=kind, note=note)

    result = await services(request).db.run(run)
    if not confirmed:
        return render(request, "bulk_confirm.html", {
            "title": f"确认将 {len(result)} 人{label}", "action_url": "/persons/bulk", "action": "reference",
            "label": label, "batch_id": None, "lines": result, "extra": {"list_kind": kind, "note": note},
            "back": "/persons"})
    flash(request, f"已{label}：新增 {result.added} 人，更新 {result.updated} 人。今后录入或导入这些人的发放明细时将提示核实。")
    return redirect("/persons")


def routes() -> list[BaseRoute]:
    return [
        *route("/persons", person_search, name="person_search", methods=["GET"], json=True),
        Route("/persons/import", person_import, methods=["POST"], name="person_import"),
        Route("/persons/bulk", persons_bulk, methods=["POST"], name="persons_bulk"),
        Route("/persons/{person_id}", person_detail, methods=["GET"], name="person_detail"),
    ]
