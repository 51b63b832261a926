"""One rule set's four routes, declared once: GET (in force), PUT (replace, whole document), GET
history, POST rollback. The sourcing rules, the promising rules and the return policy are each a
`RuleSetRoutes` in their function; what differs between them is data (path, kind, texts, a check).

No `from __future__ import annotations` here: the route functions are made inside `add_to`, and the
HTTP resolver reads their annotations (the rule set's own classes) to validate and to document.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from oms.domain.apikeys import actor
from oms.domain.rule_sets import history, in_force, kept_version, save_rule_set
from oms.http import SECURED
from oms.models.rule_sets import Rollback, RuleHistory
from oms.observability import logger
from oms.openapi_errors import answers

ROLLBACK_DESCRIPTION = (
    "`to_version`: the version whose content is restored; `version`: the one in force as you read it "
    "(409 if someone saved meanwhile). 404 if that version is not kept."
)


@dataclass(frozen=True)
class RuleSetRoutes:
    path: str  # /sourcing/rules
    kind: str  # the catalog's kind: sourcing, promising, returns
    noun: str  # what the texts call it: "the sourcing rules"
    name: str  # the route functions' names (and so the operation ids): get_<name>, put_<name>, ...
    model: type[BaseModel]  # the rule set
    document: type[Any]  # its whole-document form (oms.models.rule_sets.<kind>)
    default: Callable[[], BaseModel]  # the built-in rule set, in force until the first save
    reference: Callable[[], Any]  # the function's reference data (a RuleStore)
    get_summary: str
    put_description: str
    put_errors: tuple[int, ...] = (409,)
    check: Callable[[BaseModel], None] | None = field(default=None)  # refuses what the document cannot see

    def add_to(self, app: APIGatewayHttpResolver) -> None:
        model, document, noun = self.model, self.document, self.noun

        def get_rules() -> model:  # type: ignore[valid-type]
            return in_force(self.reference(), self.kind, model, self.default)

        def put_rules(body: document) -> model:  # type: ignore[valid-type]
            return self._save(app, body, restored_from=None)

        def rules_history() -> RuleHistory:
            return history(self.reference(), self.kind, model)

        def rollback_rules(body: Rollback) -> model:  # type: ignore[valid-type]
            kept = kept_version(self.reference(), self.kind, body.to_version, model)
            restored = document.model_validate({**kept.model_dump(mode="json"), "version": body.version})
            return self._save(app, restored, restored_from=body.to_version)

        named = {
            f"get_{self.name}": get_rules,
            f"put_{self.name}": put_rules,
            f"{self.name}_history": rules_history,
            f"rollback_{self.name}": rollback_rules,
        }
        for name, route in named.items():  # the operation ids are made from these names
            route.__name__ = route.__qualname__ = name
        app.get(self.path, summary=self.get_summary, security=SECURED, responses=answers())(get_rules)
        put = f"Replace {noun}"
        app.put(self.path, summary=put, description=self.put_description, security=SECURED,
                responses=answers(*self.put_errors))(put_rules)  # fmt: skip
        saved = f"The saved versions of {noun}: who saved each and when"
        app.get(f"{self.path}/history", summary=saved, security=SECURED, responses=answers())(rules_history)
        restore = f"Put a kept version of {noun} back in force, as a new version"
        app.post(f"{self.path}/rollback", summary=restore, description=ROLLBACK_DESCRIPTION, security=SECURED,
                 responses=answers(404, 409))(rollback_rules)  # fmt: skip

    def _save(self, app: APIGatewayHttpResolver, body: Any, restored_from: int | None) -> BaseModel:
        rules = body.rule_set()
        if self.check is not None:
            self.check(rules)
        who = actor(app.context["api_key"])
        saved = save_rule_set(self.reference(), self.kind, rules, datetime.now(UTC), who, self.default, restored_from)
        logger.info(
            "rule set saved", extra={"kind": self.kind, "version": saved.version, "restored_from": restored_from}
        )
        return saved
