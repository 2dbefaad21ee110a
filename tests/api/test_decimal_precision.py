"""A FHIR decimal keeps its precision (R4 datatypes.html#decimal): what was written is stored
and served back digit for digit, on every path that serves it; integers stay integers."""
from __future__ import annotations

import json

from gateway.fhir import json_text
from tests.api.builders import patient

FHIR = "application/fhir+json"
# Written by hand: json.dumps cannot spell these (a float would lose them).
GOAL = ('{"resourceType":"Goal","lifecycleStatus":"active",'
        '"description":{"text":"walk further"},"subject":{"reference":"Patient/%s"},'
        '"target":[{"measure":{"text":"m"},"detailQuantity":{"value":1.0000000000000000000000001,"unit":"km"}},'
        '{"measure":{"text":"m"},"detailQuantity":{"value":1.50}},{"measure":{"text":"m"},"detailQuantity":{"value":2.5E3}},'
        '{"measure":{"text":"m"},"detailInteger":7}]}')
DIGITS = ('"value":1.0000000000000000000000001', '"value":1.50', '"value":2.5E3',
          '"detailInteger":7')


def _assert_exact(text: str) -> None:
    for digits in DIGITS:
        assert digits in text.replace(" ", ""), (digits, text[:600])


def _create(client, auth) -> dict:
    person = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    response = client.post("/fhir/Goal", data=GOAL % person["id"],
                           headers={**auth, "Content-Type": FHIR})
    assert response.status_code == 201, response.get_data(as_text=True)
    _assert_exact(response.get_data(as_text=True))
    return json_text.loads_stored(response.get_data())


def test_decimals_are_served_as_written_by_read_vread_search_and_history(client, auth):
    created = _create(client, auth)
    path = f"/fhir/Goal/{created['id']}"
    for url in (path, f"{path}/_history/1", f"{path}/_history", "/fhir/Goal",
                f"/fhir/Goal?_id={created['id']}", "/fhir/Goal/_history",
                f"{path}?_elements=target",
                f"/fhir/Goal?_id={created['id']}&_summary=data"):
        response = client.get(url, headers=auth)
        assert response.status_code == 200, (url, response.get_data(as_text=True))
        _assert_exact(response.get_data(as_text=True))


def test_an_update_and_a_patch_keep_the_digits(client, auth):
    created = _create(client, auth)
    text = json_text.dumps({**created, "lifecycleStatus": "on-hold"})
    response = client.put(f"/fhir/Goal/{created['id']}", data=text,
                          headers={**auth, "Content-Type": FHIR})
    assert response.status_code == 200, response.get_data(as_text=True)
    _assert_exact(response.get_data(as_text=True))
    patch = '[{"op":"replace","path":"/lifecycleStatus","value":"completed"}]'
    response = client.patch(f"/fhir/Goal/{created['id']}", data=patch,
                            headers={**auth, "Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    _assert_exact(client.get(f"/fhir/Goal/{created['id']}", headers=auth)
                  .get_data(as_text=True))


def test_a_transaction_keeps_the_digits(client, auth):
    person = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    goal = GOAL % person["id"]
    bundle = ('{"resourceType":"Bundle","type":"transaction","entry":[{"resource":' + goal
              + ',"request":{"method":"POST","url":"Goal"}},{"request":{"method":"GET",'
              '"url":"Goal?subject=Patient/' + person["id"] + '"}}]}')
    response = client.post("/fhir", data=bundle, headers={
        **auth, "Content-Type": FHIR, "Prefer": "return=representation"})
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = json_text.loads_stored(response.get_data())
    location = answer["entry"][0]["response"]["location"]
    _assert_exact(client.get(f"/fhir/{location.split('/_history')[0]}", headers=auth)
                  .get_data(as_text=True))
    _assert_exact(response.get_data(as_text=True))


def test_the_json_helpers_round_trip_numbers_as_written():
    text = '{"a":1.0000000000000000000000001,"b":[1.50,-0.0,1e-7,2],"c":{"d":true}}'
    value = json_text.loads(text)
    assert json_text.dumps(value) == text
    assert type(value["b"][3]) is int
    assert json_text.dumps(value, sort_keys=True) == text
    assert json.loads(json_text.dumps(value, indent=1)) == json.loads(text)
    plain = {"a": 1.5, "b": [1, "é"]}
    assert json_text.dumps(plain) == json.dumps(plain, separators=(",", ":"),
                                                ensure_ascii=False)


def test_a_change_of_precision_alone_is_a_new_version(client, auth):
    created = _create(client, auth)
    text = json_text.dumps(created).replace('"value":1.50', '"value":1.5')
    response = client.put(f"/fhir/Goal/{created['id']}", data=text,
                          headers={**auth, "Content-Type": FHIR})
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'
    assert '"value":1.5}' in response.get_data(as_text=True)
