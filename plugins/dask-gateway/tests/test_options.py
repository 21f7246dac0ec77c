"""The checkout fields: ESAP's workers, then the gateway's own cluster options with their bounds, one check for all."""

import pytest
from esap_dask_gateway.facility import DaskGatewayFacility, _field, _gateway_values

from esap_core import FacilityError, FieldType, InvalidValues, QueryField, check_values
from esap_core.testing import free_port

FACILITY = DaskGatewayFacility()


def test_the_gateways_options_become_fields_with_their_bounds(gateway_facility):
    fields = FACILITY.options(gateway_facility(max_workers=3, workers=2))

    assert list(fields) == [
        QueryField(
            "workers", "Workers", FieldType.INTEGER, required=True, default=2, minimum=1, maximum=3, help="1 to 3"
        ),
        QueryField("worker_cores", "Worker cores", FieldType.INTEGER, default=1, minimum=1, maximum=2, help="1 to 2"),
        QueryField(
            "worker_memory",
            "Worker memory (GiB)",
            FieldType.NUMBER,
            default=0.5,
            minimum=0.25,
            maximum=1,
            help="0.25 to 1",
        ),
        QueryField(
            "image", "Image", FieldType.CHOICE, default="python", choices=("python", "no-such-image", "never-starts")
        ),
    ]


def test_the_shared_check_takes_form_values_and_refuses_what_is_out_of_bounds(gateway_facility):
    fields = FACILITY.options(gateway_facility())

    assert check_values(fields, {"workers": "2", "worker_memory": "0.75"}) == {
        "workers": 2,
        "worker_cores": 1,
        "worker_memory": 0.75,
        "image": "python",
    }
    with pytest.raises(InvalidValues) as refused:
        check_values(fields, {"workers": "5", "worker_cores": "1.5", "worker_memory": "4", "image": "latest"})
    assert refused.value.problems == {
        "workers": "Workers must be at most 4, not 5",
        "worker_cores": "Worker cores must be a whole number",
        "worker_memory": "Worker memory (GiB) must be at most 1, not 4",
        "image": "Image must be one of python, no-such-image, never-starts, not 'latest'",
    }


def test_a_gateway_that_is_down_gives_no_fields_but_a_reason(gateway_facility):
    port = free_port()

    with pytest.raises(FacilityError, match=rf"^Dask Gateway at http://127.0.0.1:{port} cannot be reached: "):
        FACILITY.options(gateway_facility(public_url=f"http://127.0.0.1:{port}"))


@pytest.mark.parametrize(
    "option",
    [
        {"field": "environment", "label": "Environment", "default": {}, "spec": {"type": "mapping"}},
        {"field": "workers", "label": "Workers", "default": 1, "spec": {"type": "int", "min": 0, "max": 9}},
        {"field": "not a name", "label": "Odd", "default": 1, "spec": {"type": "int"}},
        {"field": "queue", "label": "Queue", "default": None, "spec": {"type": "select", "options": []}},
    ],
)
def test_options_without_a_form_or_that_clash_with_esaps_own_are_left_out(option):
    assert _field(option) is None


def test_unbounded_numbers_and_other_types_become_their_fields():
    assert _field(
        {"field": "threads", "label": "", "default": 2, "spec": {"type": "int", "min": None, "max": None}}
    ) == (QueryField("threads", "threads", FieldType.INTEGER, default=2))
    assert _field({"field": "gpu", "label": "GPU", "default": False, "spec": {"type": "bool"}}) == (
        QueryField("gpu", "GPU", FieldType.BOOLEAN, default=False)
    )
    assert _field({"field": "queue", "label": "Queue", "default": "short", "spec": {"type": "string"}}) == (
        QueryField("queue", "Queue", FieldType.TEXT, default="short")
    )


def test_a_choice_goes_back_to_the_gateway_as_the_value_it_offered():
    offered = [{"field": "cores", "label": "Cores", "default": 1, "spec": {"type": "select", "options": [1, 2, 4]}}]
    field = _field(offered[0])
    assert field.choices == ("1", "2", "4") and field.default == "1"

    assert _gateway_values(offered, check_values([field], {"cores": "4"})) == {"cores": 4}
