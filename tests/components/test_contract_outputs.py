"""Components register their contract properties as outputs too: under `pulumi preview
--policy-pack`, a component's outputs are all the stack policies see of it."""

from google.protobuf import empty_pb2, json_format

from multidc.plan import capture

from conftest import STACKS


def test_every_component_registers_each_contract_property_as_an_output(monkeypatch, specs):
    registered: dict[str, dict] = {}

    def record(monitor, request):
        registered[request.urn] = json_format.MessageToDict(request.outputs)
        return empty_pb2.Empty()

    monkeypatch.setattr(capture.CapturingMonitor, "RegisterResourceOutputs", record, raising=False)
    for stack in STACKS:
        graph = capture.plan(specs[stack], stack=f"{stack}-outputs")
        components = [node for node in graph if node.is_component and node.type.startswith("multidc:")
                      and not node.type.startswith("multidc:ml_platform:")]
        assert components
        for node in components:
            missing = set(node.inputs) - set(registered.get(node.urn, {}))
            assert not missing, f"{node.urn} does not register {sorted(missing)} as outputs"
