"""An operator who mistypes a class is told so, as the API tells a caller, instead of seeing an empty table."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("command", [("status",), ("sources", "list")])
def test_an_unknown_class_is_refused_naming_the_known_ones(cli, command):
    assert cli("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq").exit_code == 0

    refused = cli(*command, "--class", "nosuch")

    assert refused.exit_code == 1
    assert "'nosuch' is not defined by the policy" in refused.output
    assert "faq" in refused.output and "policy" in refused.output
    assert cli(*command, "--class", "faq").exit_code == 0
