"""Components register their contract properties as outputs too: under `pulumi preview
--policy-pack`, a component's outputs are all the stack policies see of it."""

import pytest

from conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_component_registers_each_contract_property_as_an_output(graphs, stack):
    components = [node for node in graphs[stack] if node.is_component and node.type.startswith("multidc:")]
    assert components
    for node in components:
        missing = set(node.inputs) - set(node.outputs)
        assert not missing, f"{node.urn} does not register {sorted(missing)} as outputs"
