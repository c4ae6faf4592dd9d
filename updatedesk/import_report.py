"""What an import did (or, with --dry-run, would do): rows counted per kind and outcome, and every
change to who may do what, one line each, so an operator sees a role raised or a link dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import Role


@dataclass
class ImportReport:
    """How many rows of each kind were created, changed, or already as the file says, and the
    access changes: roles, district links, accounts switched off or on."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def add(self, kind: str, outcome: str, count: int = 1) -> None:
        per_kind = self.counts.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})
        per_kind[outcome] = per_kind.get(outcome, 0) + count  # "removed": maintenance windows

    def changed(self) -> int:
        return sum(c["created"] + c["updated"] + c.get("removed", 0) for c in self.counts.values())

    def summary(self) -> str:
        parts = [
            f"{kind}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            + (f", {c['removed']} removed" if "removed" in c else "")
            for kind, c in sorted(self.counts.items())
        ]
        return "; ".join(parts) or "nothing to import"

    # ------------------------------------------------------------------ access changes

    def account_created(self, email: str, role: Role) -> None:
        self.changes.append(f"account created: {email} as {role.value}{_staff_note(None, role)}")

    def role_changed(self, email: str, old: Role, new: Role) -> None:
        self.changes.append(f"role changed: {email}: {old.value} -> {new.value}{_staff_note(old, new)}")

    def link_added(self, email: str, district: str) -> None:
        self.changes.append(f"district link added: {email} -> {district}")

    def link_removed(self, email: str, district: str) -> None:
        self.changes.append(f"district link removed: {email} -> {district}")

    def switched(self, email: str, active: bool) -> None:
        self.changes.append(f"account switched {'on' if active else 'off'}: {email}")

    def lines(self, source: str) -> list[str]:
        """What the command prints."""
        head = f"Dry run of {source}, nothing written" if self.dry_run else f"Imported {source}"
        lines = [f"{head}: {self.summary()}"]
        if self.changes:
            lines.append("Access changes:")
            lines += [f"  {change}" for change in self.changes]
        else:
            lines.append("No access changes.")
        return lines


def _staff_note(old: Role | None, new: Role) -> str:
    if new is Role.HOSTING_STAFF and old is not Role.HOSTING_STAFF:
        return " (gains hosting staff rights over every district)"
    if old is Role.HOSTING_STAFF and new is not Role.HOSTING_STAFF:
        return " (loses hosting staff rights)"
    return ""
