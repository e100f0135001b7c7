"""Coming back from a copy: a restore from the vault (a dump, or point in time from a WAL or binlog
archive), and ransomware, where only copies the attacker cannot reach count (a locked vault, and a
delayed standby replaying it when the attack is found within its delay).
"""

from __future__ import annotations

from typing import Any

from multidc.contract import BINLOG_ARCHIVE_TOOL
from multidc.spec import System

from . import assumptions as A
from .recovery import STATELESS_KINDS, Recovery, dns_ttl, human, sum_terms as _sum


def restore(ctx: Any, system: System, lost_site: str, backup, *, detect: bool = True) -> Recovery:
    interval = A.cron_interval_s(backup.schedule)
    volume = ctx.volume_gb(system, ctx.deployed.primary_of(system.name, system.sites))
    terms = [ctx.detection(lost_site, backup.site)] if detect else []
    rate = ctx.figures.value("RESTORE_MB_S")
    terms += [ctx.figures.term("RESTORE_PROVISION_S"),
              (f"{volume:.0f} GB / RESTORE_MB_S {rate:g} MB/s", volume * 1024 / rate)]
    log, bound = ("binlog", "upload interval + one upload") if backup.archive_tool == BINLOG_ARCHIVE_TOOL \
        else ("WAL", "archive_timeout")
    if backup.archive_lag_s is not None:  # the newest base backup, then up to one base-backup interval of log
        ratio = ctx.figures.value("WAL_REPLAY_RATIO")  # one session applies a binlog, single-threaded as redo
        terms.append((f"{log} replay of up to one base-backup interval {human(interval)} x WAL_REPLAY_RATIO "
                       f"{ratio:g}", interval * ratio))
    rto, rto_formula = _sum(terms)
    if backup.archive_lag_s is not None:
        # Point-in-time from the archive: what is lost is what had not reached the vault yet. On a managed
        # database the archive host writes that WAL, after applying the primary's commits asynchronously.
        rpo_terms = [(bound, float(backup.archive_lag_s))]
        where = f"{log} archived continuously"
        if backup.archive_host is not None:
            rpo_terms.append(ctx.figures.term("ASYNC_LAG_S"))
            where += f" by the archive host in {backup.site} (a logical subscriber of the primary)"
        rpo, rpo_formula = _sum(rpo_terms)
        return Recovery(rpo, f"{where}: {rpo_formula}", rto, rto_formula,
                        f"point-in-time restore from the {log} archive and base backups kept in {backup.site}")
    unarchived = (" (a WAL archive is declared but no archive host runs it: a managed database archives nothing "
                  "itself)") if backup.archive_without_host else ""
    return Recovery(interval, f"backup schedule '{backup.schedule}' interval {human(interval)}{unarchived}", rto,
                    rto_formula, f"restore the {backup.mechanism} backup kept in {backup.site}")


def ransomware(ctx: Any, system: System) -> Recovery:
    primary = ctx.deployed.primary_of(system.name, system.sites)
    if system.kind in STATELESS_KINDS:
        rto, formula = _sum([ctx.figures.term("REBUILD_S")])
        return Recovery(0.0, "stateless: nothing to lose", rto, formula, "rebuilt from the spec on clean images")
    if system.stateless:
        # Declared in the spec, with its reason, and checked by the backup policy (MDC-BAK-001):
        # the encrypted copy is thrown away and the system starts empty.
        rto, formula = _sum([ctx.figures.term("REBUILD_S")])
        return Recovery(0.0, f"declared stateless: {system.stateless_reason}", rto, formula,
                        "rebuilt empty from the spec on clean images (nothing in it is restored)")
    backups = ctx.deployed.backups_of(system.name)
    window = ctx.figures.value("RANSOMWARE_DETECTION_DAYS")
    usable = [b for b in backups if b.immutable and b.immutable_days >= window]
    if usable:
        site = primary.site if primary else usable[0].protects_site
        best = min((restore(ctx, system, site, b, detect=False) for b in usable), key=lambda r: (r.rpo_s, r.rto_s))
        impossible = ""
        if system.rpo.total_seconds() == 0:
            impossible = (f"; an RPO of 0 cannot be met against ransomware (the attacker's writes are committed and "
                          f"replicated like any other): the best achievable is {human(best.rpo_s or 0)}")
        locked = f", object-locked beyond the {window:.0f}-day detection window"
        standby = next((b for b in usable if b.delayed_standby_s and b.archive_lag_s is not None), None)
        if standby is not None:
            return _delayed(ctx, system, standby, best, locked + impossible)
        slow = ""
        if best.rto_s is not None and best.rto_s > system.rto.total_seconds():
            slow = (f"; the restore copies the whole volume from the vault ({human(best.rto_s)}), which an RTO of "
                    f"{human(system.rto.total_seconds())} against ransomware does not leave time for")
        return Recovery(best.rpo_s, best.rpo_formula, best.rto_s, best.rto_formula,
                        best.reason + locked + impossible + slow)
    if any(b.immutable for b in backups):
        days = max(b.immutable_days for b in backups)
        why = f"its backups are locked for {days} days, less than the {window:.0f}-day detection window"
    elif backups:
        why = "its backups are not object-locked: an attacker with the platform's credentials deletes them"
    else:
        why = "it has no backup, and replication carries the encryption to every copy"
    return Recovery(None, "data lost", None, "not recoverable", why)


def _delayed(ctx: Any, system: System, backup, vault: Recovery, why_vault: str) -> Recovery:
    """Ransomware with a delayed standby: promoted at the attack's time, no server to provision, no volume to
    copy; it holds only when the attack is found within its delay, so the vault restore stays in the verdict."""
    delay = float(backup.delayed_standby_s)
    ratio = ctx.figures.value("WAL_REPLAY_RATIO")
    rto, formula = _sum([(f"WAL replay of up to the delay {human(delay)} x WAL_REPLAY_RATIO {ratio:g}", delay * ratio),
                         ctx.figures.term("PROMOTE_S"), dns_ttl(ctx, system)])
    slow = ""
    if rto > system.rto.total_seconds():
        slow = (f"; promoting it takes {human(rto)}, more than the RTO of {human(system.rto.total_seconds())}: "
                "shorten the delay")
    reason = (f"promote the delayed standby in {backup.site} (it replays the WAL archive {human(delay)} behind) at "
              f"the attack's time, when the attack is found within {human(delay)}; found later: the vault restore, "
              f"{human(vault.rto_s)} ({vault.reason}{why_vault}); `multidc restore` promotes a standby whose data "
              "directory it reaches (a local deployment): on the VM the promotion is the operator's steps in "
              "docs/ransomware.md" + slow)
    return Recovery(vault.rpo_s, vault.rpo_formula, rto, formula, reason,
                    fallback_rto_s=vault.rto_s, fallback_rto_formula=vault.rto_formula)
