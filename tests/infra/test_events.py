"""The alert rules and the workbook query only the events and fields the
handler writes (handler/src/events.rs): a renamed event or field fails here,
not silently in the portal."""
from __future__ import annotations

import json
import re

from conftest import HANDLER_SRC, INFRA

EVENTS_RS = HANDLER_SRC / "events.rs"
ALERTS = INFRA / "modules" / "alerts.bicep"
WORKBOOK = INFRA / "workbook.json"


def _all_events() -> set[str]:
    text = EVENTS_RS.read_text()
    consts = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', text))
    m = re.search(r"pub const ALL_EVENTS: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert m, "events.rs: no ALL_EVENTS"
    return {consts[i.strip()] for i in m.group(1).split(",") if i.strip()}


def _documented_fields() -> set[str]:
    """Field names events.rs documents: `backticked` words in doc comments
    beside the event constants, plus RUN_COUNT_FIELDS and `event` itself."""
    text = EVENTS_RS.read_text()
    docs = "\n".join(l for l in text.splitlines() if l.lstrip().startswith("///"))
    fields = set(re.findall(r"`([a-z][a-z0-9_]*)`", docs))
    m = re.search(r"pub const RUN_COUNT_FIELDS: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert m, "events.rs: no RUN_COUNT_FIELDS"
    fields |= set(re.findall(r'"([a-z_]+)"', m.group(1)))
    return fields | {"event"}


def _queries() -> dict[str, str]:
    """Every KQL query: the alert rules' variables (with ${events} expanded) and the workbook's items."""
    text = ALERTS.read_text()
    variables = dict(re.findall(r"(?m)^var (\w+) = '(.*)'$", text))
    head = variables.pop("events")
    out = {f"alerts.bicep {k}": v.replace("${events}", head) for k, v in variables.items() if k.endswith("Query")}
    wb = json.loads(WORKBOOK.read_text())
    for item in wb["items"]:
        if item["type"] == 3:
            out[f"workbook.json {item['name']}"] = item["content"]["query"]
    return out


def _events_in(query: str) -> set[str]:
    names = set(re.findall(r'\bevent\s*==\s*"([^"]+)"', query))
    for group in re.findall(r"\bevent\s+in\s*\(([^)]*)\)", query):
        names |= set(re.findall(r'"([^"]+)"', group))
    return names


def test_every_query_accepts_flat_and_nested_event_shapes():
    """Each query reads the event name as coalesce(fields.event, event) and fields through f."""
    queries = _queries()
    assert len(queries) >= 10
    for name, q in queries.items():
        assert q.startswith('traces | where message startswith "{" | extend e = parse_json(message)'), name
        assert "coalesce(tostring(e.fields.event), tostring(e.event))" in q, name
        assert "iff(isnotempty(tostring(e.fields.event)), e.fields, e)" in q, name
        assert not re.search(r"\be\.(?!fields\.event\b|fields\b|event\b)\w+", q), f"{name}: read fields through f, not e"


def test_queries_use_only_events_the_handler_writes():
    """Every event name in the alerts and the workbook is in ALL_EVENTS."""
    known = _all_events()
    for name, q in _queries().items():
        used = _events_in(q)
        assert used, f"{name}: filters on no event"
        assert used <= known, f"{name}: unknown events {used - known}"


def test_queries_read_only_documented_fields():
    """Every f.<field> or f["<field>"] the queries read is documented in events.rs."""
    known = _documented_fields()
    for name, q in _queries().items():
        used = set(re.findall(r"\bf\.([a-zA-Z_][a-zA-Z0-9_]*)", q)) | set(re.findall(r'\bf\["([^"]+)"\]', q))
        assert used <= known, f"{name}: undocumented fields {used - known}"


def test_each_required_alert_watches_its_event():
    """Failed runs, parked items, guard trips, expiring secrets and throttling each have a rule on the right event."""
    q = _queries()
    assert _events_in(q["alerts.bicep failedRunsQuery"]) == {"run_summary"} and '"failed"' in q["alerts.bicep failedRunsQuery"]
    assert _events_in(q["alerts.bicep parkedQuery"]) == {"work_item_parked"}
    assert _events_in(q["alerts.bicep guardQuery"]) == {"guard_tripped"}
    assert _events_in(q["alerts.bicep secretQuery"]) == {"secret_expiry"}
    assert _events_in(q["alerts.bicep throttleQuery"]) == {"run_summary", "graph_throttled"}


def test_alert_rules_route_to_the_action_group(parsed):
    """Five scheduled query rules, each over App Insights, each notifying the e-mail action group."""
    doc = parsed["modules/alerts.bicep"]
    rules = {n: r["config"] for n, r in doc["resources"].items() if r["type"] == "Microsoft.Insights/scheduledQueryRules"}
    assert len(rules) == 5, sorted(rules)
    used_queries = set()
    for name, cfg in rules.items():
        props = cfg["properties"]
        assert props["scopes"] == ["appInsightsId"], name
        action = props["actions"]["actionGroups"][0]["operator"]["operands"]
        assert action == {"operand_1": "actionGroup", "operand_2": "id"}, name
        used_queries.add(props["criteria"]["allOf"][0]["query"])
    assert used_queries == {"failedRunsQuery", "parkedQuery", "guardQuery", "secretQuery", "throttleQuery"}
    group = doc["resources"]["actionGroup"]["config"]["properties"]
    assert group["emailReceivers"][0]["emailAddress"] == "alertEmail"
    assert "alertEmail" in parsed["main.bicep"]["parameters"]


def test_workbook_charts_what_the_issue_asks_for():
    """Runs per tenant/outcome, created/updated/deprovisioned/photos over time, redemption rate, failures, throttling."""
    q = _queries()
    runs = q["workbook.json runs-per-tenant"]
    assert "f.tenant_id" in runs and "f.outcome" in runs
    over_time = q["workbook.json guests-over-time"]
    for field in ("created", "updated", "deprovisioned", "photos_copied"):
        assert f"f.{field}" in over_time, field
    assert "redemption_rate" in q["workbook.json redemption-rate"]
    assert "failed" in q["workbook.json failures"]
    assert "throttled" in q["workbook.json throttling"]


def test_workbook_is_valid_json_deployed_by_the_template():
    """workbook.json is a Notebook/1.0 document and workbook.bicep loads it with loadTextContent."""
    wb = json.loads(WORKBOOK.read_text())
    assert wb["version"] == "Notebook/1.0"
    assert "loadTextContent('../workbook.json')" in (INFRA / "modules" / "workbook.bicep").read_text()
