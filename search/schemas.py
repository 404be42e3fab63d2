"""The five search indexes (DESIGN.md): what the indexer builds and the portal/bot read.

Document fields (other modules build and render against these names):

``policies`` (public, full text) — id, code, name, short_name, department, level (中央/省/市/县),
year (int), budget_source, scope, beneficiaries, standard, document_title, document_number,
document_url, delivery (到户/到人), status, history (list of {date, change}).

``disclosures`` (public, masked) — id, kind ("publicity" 公示名单 | "result" 发放结果),
name_masked, region_codes ([province 2, city 4, county 6, township 9, village 12 digits]),
county, township, village, project_code, project_name, policy_name, department, year (int),
period, amount ("1234.50"), amount_cents (int), date ("YYYY-MM-DD"), batch_code, status.

``payments`` (private, lookup by person key only, no text search) — id, person_key (hex HMAC),
name_digest, card_last4, card_digest, project_code, project_name, department, year, period,
amount, amount_cents, date, state (pending/paid/failed/returned/reissued/withdrawn), stage,
failure_code, failure_reason, advice, region_codes, village, batch_code, published (bool: the
batch's results are public).

``persons`` (private, read by key only, no text search; one document per person key with
payments lines, built by the indexer from that person's ``payments`` documents and rewritten
whenever one of them changes) — id (= person_key), person_key, factors (list of [name_digest,
card_last4, card_digest], one per distinct card the lines carry), paid_years (list of int, newest
first), answer (JSON text: the ``years`` of the personal answer, grouped and labelled as the
portal renders it), lines (JSON text: the lines with the fields the portal's ``PaymentItem``
reads — id, project_code, project_name, department, year, period, amount, date, state, stage,
failure_reason, advice, village, published). What a personal lookup reads: one keyed read,
factors compared before the answer is decoded.

``statistics`` (public, aggregates only, no text search; built by :mod:`indexer.statistics`) —
id, dimension ("total" | "year" | "policy" | "county" | "township" | "village" | "timeliness" |
"department"), year (int, 0 = all years), policy_key (policy name, "*" = all), policy_name,
region_level ("*" | "county" | "township" | "village"), region_code ("*" = whole deployment),
region_codes (ancestors incl. itself), key, label, amount ("1234.50" or null when suppressed),
amount_cents, lines, persons, suppressed (bool), computed_at; timeliness/department documents:
batches, on_time, on_time_share, median_days, p90_days, max_days, limit_days and the same with
``payment_`` (publicity start → payment), department, region_name.
"""

from __future__ import annotations

from search.base import IndexSpec

__all__ = ["DISCLOSURES", "PAYMENTS", "PERSONS", "POLICIES", "SPECS", "STATISTICS"]

POLICIES = IndexSpec(
    name="policies",
    primary_key="id",
    searchable=["name", "short_name", "department", "scope", "beneficiaries", "standard",
                "document_title", "document_number"],
    filterable=["level", "department", "year", "status"],
    sortable=[],
    facetable=["level", "department", "year"],
)

DISCLOSURES = IndexSpec(
    name="disclosures",
    primary_key="id",
    searchable=["name_masked", "village", "township", "county", "project_name", "policy_name"],
    filterable=["kind", "region_codes", "project_code", "year", "department", "township",
                "village"],
    sortable=["date", "amount_cents"],
    facetable=["kind", "year", "project_name", "county", "township", "village"],
)

PAYMENTS = IndexSpec(
    name="payments",
    primary_key="id",
    searchable=[],
    filterable=["person_key", "year", "state"],
    sortable=["date"],
    facetable=[],
)

PERSONS = IndexSpec(
    name="persons",
    primary_key="id",
    searchable=[],
    filterable=["person_key"],
    sortable=[],
    facetable=[],
)

STATISTICS = IndexSpec(
    name="statistics",
    primary_key="id",
    searchable=[],
    filterable=["dimension", "year", "region_codes", "region_code", "region_level", "policy_key",
                "policy_name"],
    sortable=[],
    facetable=[],
)

SPECS: dict[str, IndexSpec] = {s.name: s for s in (POLICIES, DISCLOSURES, PAYMENTS, PERSONS, STATISTICS)}
