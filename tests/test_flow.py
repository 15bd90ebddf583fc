"""Flow transitions: browser binding, order of steps, single use, upstream request claims."""

from datetime import UTC
from datetime import datetime
from typing import Any
from typing import TypedDict

import pytest

from broker.errors import FlowError
from broker.errors import UpstreamAnswerUsedError
from broker.errors import UpstreamResponseError
from broker.flow import AUTHENTICATED
from broker.flow import UPSTREAM
from broker.flow import Flows
from broker.flow import flow_key
from broker.identity import Identity
from broker.identity import Party
from broker.state import SqlStateStore


class _Fields(TypedDict):
    """What a frontend hands Flows.start besides the binding (typed, so ``**FIELDS`` checks)."""

    frontend: str
    requester: str
    requester_name: str
    service: str
    min_loa: str
    return_to: str


FIELDS: _Fields = {
    "frontend": "oidc", "requester": "rp", "requester_name": "RP",
    "service": "92a383fd-f732-5aaf-af23-d9acf46c4c3a", "min_loa": "substantial",
    "return_to": "https://rp.example/cb",
}
IDENTITY = Identity(acting=Party(id="999993653", id_type="bsn"), loa="substantial",
                    connector="digid", authn_instant=datetime(2026, 11, 23, tzinfo=UTC))


@pytest.fixture
def flows(database: Any) -> Flows:
    return Flows(SqlStateStore(lambda: database), lifetime=900)


def test_flow_loads_only_in_the_browser_that_began_it(flows: Flows) -> None:
    flow = flows.start(browser_binding="browser-a", **FIELDS)
    assert flows.load(flow.id, "browser-a").requester == "rp"
    with pytest.raises(FlowError):
        flows.load(flow.id, "browser-b")
    with pytest.raises(FlowError):
        flows.load(flow.id, None)


def test_unknown_or_malformed_flow_id_is_a_flow_error(flows: Flows) -> None:
    with pytest.raises(FlowError):
        flows.load("x" * 43, "browser-a")
    with pytest.raises(FlowError):
        flows.load("../../etc/passwd", "browser-a")


def test_step_out_of_order_is_refused(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    with pytest.raises(FlowError, match="out of order"):
        flows.load(flow.id, "b", "authenticated")


def test_a_flow_started_unstored_is_stored_when_its_upstream_request_is_recorded(
        flows: Flows) -> None:
    flow = flows.start(browser_binding="b", stored=False, **FIELDS)
    with pytest.raises(FlowError, match="unknown"):
        flows.load(flow.id, "b")
    flows.upstream_started(flow, "digid", "_req1")
    assert flows.load(flow.id, "b", "upstream").connector == "digid"


def test_keep_stores_an_unstored_flow_and_leaves_a_later_one_alone(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", stored=False, **FIELDS)
    flows.keep(flow)
    assert flows.load(flow.id, "b", "started").id == flow.id
    flows.upstream_started(flow, "digid", "_req1")
    flows.authenticated(flow, IDENTITY)
    flows.keep(flow)  # past its first state: nothing to store
    assert flows.load(flow.id, "b").state == "authenticated"


def test_finding_the_flow_of_an_answer_consumes_nothing(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    flows.upstream_started(flow, "digid", "_req1")
    assert flows.awaiting_upstream("digid", "_req1").id == flow.id
    assert flows.awaiting_upstream("digid", "_req1").id == flow.id


def test_upstream_request_id_is_used_up_once(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    flows.upstream_started(flow, "digid", "_req1")
    found = flows.awaiting_upstream("digid", "_req1")
    second = flows.awaiting_upstream("digid", "_req1")  # the same answer, posted twice
    flows.authenticated(found, IDENTITY, mark=("seen:a1", 60))
    with pytest.raises(UpstreamAnswerUsedError):
        flows.authenticated(second, IDENTITY, mark=("seen:a1", 60))
    with pytest.raises(UpstreamResponseError):
        flows.awaiting_upstream("digid", "_req1")
    assert flows.load(flow.id, "b").state == AUTHENTICATED


def test_an_assertion_seen_before_is_refused_and_changes_nothing(flows: Flows,
                                                                 database: Any) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    flows.upstream_started(flow, "digid", "_req1")
    SqlStateStore(lambda: database).add("seen:a1", {}, 60)  # the assertion came before
    with pytest.raises(UpstreamResponseError, match="replayed"):
        flows.authenticated(flows.awaiting_upstream("digid", "_req1"), IDENTITY,
                            mark=("seen:a1", 60))
    assert flows.awaiting_upstream("digid", "_req1").state == UPSTREAM


def test_response_for_another_connector_finds_no_flow(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    flows.upstream_started(flow, "digid", "_req1")
    with pytest.raises(UpstreamResponseError):
        flows.awaiting_upstream("eherkenning", "_req1")


def test_unsolicited_response_is_refused(flows: Flows) -> None:
    with pytest.raises(UpstreamResponseError, match="unsolicited"):
        flows.awaiting_upstream("digid", None)


def test_completed_flow_cannot_be_completed_or_loaded_again(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    flows.upstream_started(flow, "digid", "_r")
    flows.authenticated(flow, IDENTITY)
    assert flows.load(flow.id, "b", "authenticated").get_identity() == IDENTITY
    flows.complete(flow)
    with pytest.raises(FlowError):
        flows.complete(flow)
    with pytest.raises(FlowError):
        flows.load(flow.id, "b")


def test_flow_demanding_fresh_authentication_round_trips(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", force_authn=True, **FIELDS)
    loaded = flows.load(flow.id, "b")
    assert loaded.force_authn is True and loaded.max_age is None
    assert loaded.started_at() == datetime.fromisoformat(flow.created_at)


def test_max_age_implies_force_authn(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", max_age=0, **FIELDS)
    loaded = flows.load(flow.id, "b")
    assert loaded.force_authn is True and loaded.max_age == 0


def test_flow_demands_no_fresh_authentication_by_default(flows: Flows) -> None:
    flow = flows.start(browser_binding="b", **FIELDS)
    loaded = flows.load(flow.id, "b")
    assert loaded.force_authn is False and loaded.max_age is None


def test_negative_max_age_is_a_programming_error(flows: Flows) -> None:
    with pytest.raises(ValueError):
        flows.start(browser_binding="b", max_age=-1, **FIELDS)


def test_flow_stored_before_force_authn_existed_still_loads(database: Any) -> None:
    store = SqlStateStore(lambda: database)
    flows = Flows(store, lifetime=900)
    flow = flows.start(browser_binding="b", **FIELDS)
    data = store.get(flow_key(flow.id))
    assert data is not None
    for name in ("force_authn", "max_age"):
        del data[name]
    store.put(flow_key(flow.id), data, 900)
    loaded = flows.load(flow.id, "b")
    assert loaded.force_authn is False and loaded.max_age is None
