"""Partners: the list, registering one (the CLI's options as a form), disabling and enabling
(a disabled partner's access tokens stop working at once, as with the CLI)."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.console import roles
from gateway.console.partner_form import FIELDS, PartnerForm, read_form
from gateway.console.web import PageError, audited, bp, principal, require, state
from gateway.partners.registry import KINDS, OUTBOUND_METHODS, PartnerError, PartnerRegistry

DONE = {"registered": "Partner {id} is registered.", "enabled": "Partner {id} is enabled.",
        "disabled": "Partner {id} is disabled: its access tokens no longer work."}


@bp.get("/partners")
@require(roles.PARTNERS_VIEW)
def partners() -> str:
    done, which = request.args.get("done", ""), request.args.get("id", "")
    message = DONE[done].format(id=which) if done in DONE and which else None
    return _page(PartnerForm({name: "" for name in FIELDS} | {"auth": "none"}), message)


@bp.post("/partners")
@require(roles.PARTNERS_MANAGE)
def register_partner() -> Response | tuple[str, int]:
    form = read_form(request.form)
    partner = form.partner
    if partner is not None:
        with state().writing(principal()) as repository:
            registry = PartnerRegistry(repository.session)
            if registry.get(partner.id) is not None:
                form.errors["id"] = (f"There is already a partner {partner.id}; choose another "
                                     f"id (to change one, use gateway partners update).")
            else:
                try:
                    registry.put(partner)
                except PartnerError as error:
                    form.errors["client_id"] = error.message
                else:
                    if not form.values["organization"]:  # stands for a new Organization
                        repository.update("Organization", partner.organization, {
                            "resourceType": "Organization", "id": partner.organization,
                            "active": True, "name": partner.name})
        if not form.errors:
            audited("create", note=f"console: partner {partner.id} registered")
            return redirect(url_for("console.partners", done="registered", id=partner.id), 303)
    audited("create", note="console: partner registration refused: "
                           + "; ".join(f"{k}: {v}" for k, v in form.errors.items())[:800])
    return _page(form, None), 400


@bp.post("/partners/<partner_id>/enabled")
@require(roles.PARTNERS_MANAGE)
def set_partner_enabled(partner_id: str) -> Response:
    wanted = request.form.get("enabled")
    if wanted not in ("yes", "no"):
        raise PageError(400, "The form did not say whether to enable or disable the partner.")
    with state().session_factory() as session, session.begin():
        changed = PartnerRegistry(session).set_enabled(partner_id, wanted == "yes")
    if changed is None:
        raise PageError(404, f"There is no partner {partner_id[:64]!r}.")
    done = "enabled" if wanted == "yes" else "disabled"
    audited("update", note=f"console: partner {partner_id} {done}")
    return redirect(url_for("console.partners", done=done, id=partner_id), 303)


def _page(form: PartnerForm, message: str | None) -> str:
    with state().session_factory() as session:
        listed = PartnerRegistry(session).all()
    if not form.errors:
        audited("search-type", note=f"console partners ({len(listed)})")
    return render_template("partners.html", partners=listed, form=form, kinds=KINDS,
                           methods=OUTBOUND_METHODS, message=message)
