"""The developer docs stay true to the tools: DEVELOPERS.md names every Debian
package ./dev installs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dev_packages() -> list[str]:
    text = (ROOT / "dev").read_text()
    block = re.search(r"^PACKAGES=\((.*?)^\)", text, re.S | re.M)
    assert block, "no PACKAGES=(...) in dev"
    return block.group(1).split()


def test_developers_md_lists_every_package_dev_installs():
    packages = dev_packages()
    assert len(packages) > 20
    section = (ROOT / "DEVELOPERS.md").read_text().split("## Dependencies")[1].split("\n## ")[0]
    # The first column of the table: "| pkg, pkg | what for |".
    named = {name.strip() for line in section.splitlines()
             if line.startswith("| ") and not line.startswith("| package")
             for name in line.split("|")[1].split(",")}
    missing = [p for p in packages if p not in named]
    assert not missing, f"DEVELOPERS.md does not list {missing}"
