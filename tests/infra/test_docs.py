"""The deployment guide (infra/README.md) keeps up with the templates and the code."""
from __future__ import annotations

from conftest import HANDLER_SRC, INFRA, rust_str_list

README = INFRA / "README.md"


def test_guide_names_every_setting_the_handler_reads():
    """Each SETTING_NAMES entry appears in the guide's settings table (or its note)."""
    text = README.read_text()
    missing = [n for n in rust_str_list(HANDLER_SRC / "settings.rs", "SETTING_NAMES") if f"`{n}`" not in text]
    assert not missing, missing


def test_guide_gives_the_deploy_and_publish_commands_and_the_log_shapes():
    """Deployment, publishing, Graph permissions, and the two JSON log shapes are documented."""
    text = README.read_text()
    for needle in (
        "az deployment group create",
        "func azure functionapp publish",
        "User.Invite.All",
        "User.ReadWrite.All",
        "planKind=ElasticPremium",
        "coalesce(tostring(e.fields.event), tostring(e.event))",
        "bash tests/infra/run.sh",
    ):
        assert needle in text, needle


def test_guide_lists_every_role_the_templates_assign(parsed):
    """Each role granted in roles.bicep is in the guide's permissions table."""
    from test_security import APP_ROLES, ADMIN_ROLES

    text = README.read_text()
    for role, _ in APP_ROLES | ADMIN_ROLES:
        assert role in text, role
