"""Turning plain data into what an operator reads at 80 columns: local times, durations, yes/no,
thousands separators, and tables that wrap a value rather than cut it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table

WINDOW_NAMES = {"300": "last 5 min", "86400": "last 24 h"}


def local_time(ms: int | float | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(float(ms) / 1000).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def since(ms: int | float | None, now_ms: float) -> str:
    return f"{local_time(ms)} ({duration((now_ms - float(ms)) / 1000)} ago)" if ms else "-"


def yes_no(value: object) -> str:
    return "yes" if value else "no"


def table(*columns: str, title: str | None = None, right: tuple[str, ...] = (), keep: tuple[str, ...] = (),
          whole: tuple[str, ...] = ()) -> Table:
    """A compact table. Columns in `keep` are never wrapped or cut (ids a later command takes);
    numbers (the `right` columns) and the `whole` columns are never broken either; every other column wraps its values
    (`fold`) instead of cutting them."""
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", collapse_padding=True)
    for name in columns:
        if name in keep:
            t.add_column(name, no_wrap=True, overflow="ignore", min_width=32)
        else:
            t.add_column(name, justify="right" if name in right else "left", overflow="fold", no_wrap=name in right or name in whole)
    return t


def status_rows(st: dict[str, Any], now_ms: float) -> list[tuple[str, str]]:
    """`ramp status` as (what, value) rows, in the order an operator asks the questions."""
    cap, used = int(st["cap"]), int(st["used"])
    rows = [
        ("warm-up", f"sending day {st['day']}, step {int(st['step']) + 1} of {st['steps']} "
                    f"({st['days_at_step']} healthy day(s) at this step)"),
        (f"today ({st['date']})", f"cap {cap:,}, used {used:,} ({used / cap:.0%})" if cap else "no cap yet"),
        ("", f"sent {int(st['sent']):,}, deferred {int(st['deferred_today']):,}, failed {int(st['failed_today']):,}"),
        ("transactional reserve", f"{int(st['transactional_reserve']):,} ({int(st['transactional_reserve_left']):,} left)"),
        ("this hour", f"allowance {int(st['hour_allowance']):,} ({int(st['hour_allowance_left']):,} left)"),
        ("rate", f"{float(st['rate_per_s']):g}/s ({st['rate_why']})"),
    ]
    ov = st.get("overflow") or {}
    if ov.get("enabled"):
        share = ov.get("dedicated_share")
        rows.append(("overflow route", f"{ov['configuration_set']}: sent {int(ov['overflow_sent']):,} today; dedicated share "
                                       + (f"{share:.1%}" if share is not None else "-")))
        for p, c in (ov.get("by_provider") or {}).items():
            rows.append((f"  {p}", f"dedicated {c['dedicated_used']:,}, overflow {c['overflow_used']:,}"))
    else:
        rows.append(("overflow route", "off (RAMP_OVERFLOW_CONFIGURATION_SET unset): what the IP may not carry waits"))
    warm = st.get("ses_warmup")
    if warm:
        auto = {True: "on (two ramps stack: `ramp setup --ses-auto-warmup off`)", False: "off", None: "unknown"}[warm.get("auto_warmup")]
        rows.append(("SES's own warm-up", f"automatic {auto}; pool {warm.get('pool')} {warm.get('scaling_mode') or '?'}"))
        for ip in warm.get("ips", []):
            pct = "" if ip.get("percentage") is None else f" {ip['percentage']}%"
            rows.append((f"  IP {ip['ip']}", f"SES {ip.get('status') or '?'}{pct}, beside ses-ramp's step {int(st['step']) + 1}"))
    for day, ips in (st.get("outgoing_ips") or {}).items():
        rows.append((f"IPs that delivered {day}'s mail", ", ".join(f"{ip} {n:,}" for ip, n in sorted(ips["deliveries"].items()))))
        if ips["outside_pool"]:
            rows.append(("", "outside the pool: " + ", ".join(ips["outside_pool"]) + " (SES's own warm-up?)"))
    pm = st.get("postmaster") or {}
    if not pm.get("enabled"):
        rows.append(("Gmail Postmaster Tools", "off (RAMP_POSTMASTER_CREDENTIALS unset): the google ramp has no spam figures"))
    else:
        line = (pm.get("status") or {}).get("line") or "not read yet"
        rows.append(("Gmail Postmaster Tools", ("" if (pm.get("status") or {}).get("ok", True) else "FAILED: ") + line))
        for day, domains in (pm.get("days") or {}).items():
            for domain, f in domains.items():
                spam = "no data" if f["spam_rate"] is None else f"{f['spam_rate']:.2%}"
                reps = ", ".join(f"IP {ip} {r}" for ip, r in f["ip_reputation"].items()) or "IP no data"
                own = f["ses_ramp_google"]
                mine = f"; ses-ramp's google: {own['sends']:,} sent, {own['complaints']:,} complaints" if own else ""
                flagged = f"; spammy: {', '.join(f['spammy_ids'])}" if f["spammy_ids"] else ""
                rows.append((f"  {day} {domain}", f"spam {spam}, domain {f['domain_reputation'] or 'no data'}, {reps}{flagged}{mine}"))
    quota = st.get("ses_account_quota")
    rows.append(("SES account quota", "not read yet" if not quota else
                 (f"{quota['max_24h']:,.0f} per 24 h, {quota['sent_24h']:,.0f} sent, {quota['max_rate_per_s']:g}/s"
                  if quota["max_24h"] >= 0 else "unlimited")))
    rows.append(("queued", ", ".join(f"{q} {n:,}" for q, n in st["queues"].items())))
    held = st.get("unacked", {})
    rows.append(("held by workers", ", ".join(
        f"{q} {slot['count']:,}" + (f" (oldest {duration(slot['oldest_s'])})" if slot["count"] else "") for q, slot in held.items())))
    rows.append(("waiting", f"deferred {int(st['deferred']):,}, parked " + ", ".join(f"{q} {n:,}" for q, n in st["parked"].items())))
    why = (st.get("deferred_by_reason") or {}).get("counts") or {}
    if why:
        rows.append(("  deferred by reason", ", ".join(f"{r} {n:,}" for r, n in sorted(why.items(), key=lambda x: -x[1]))
                     + ("" if st["deferred_by_reason"]["complete"] else f" (of the first {st['deferred_by_reason']['scanned']:,})")))
    kept = f"kept {st['dead_retention_days']} days" if st.get("dead_retention_days") else "kept until `ramp dead purge`"
    rows.append(("dead letters", f"{int(st['dead']):,} ({int(st.get('dead_bytes', 0)) / 1024:,.0f} KiB of Redis; {kept})"))
    rows.append(("unconfirmed", f"{int(st['unconfirmed']):,}" + (" (resent only once `ramp events` proves absence; "
                                                                    "`ramp unconfirmed list`)" if int(st['unconfirmed']) else "")))
    wm = st.get("events_watermark") or {}
    rows.append(("SES events", "none handled yet" if not wm.get("newest_mail_ms") else
                 f"newest from {local_time(wm['newest_mail_ms'])}, queue last empty "
                 + (since(wm["empty_at_ms"], now_ms) if wm.get("empty_at_ms") else "never")))
    paused = st.get("paused") or {}
    if not paused:
        rows.append(("paused", "no"))
    for target, entry in sorted(paused.items()):
        rows.append((f"paused: {target}", f"by {entry.get('by', '?')} since {since(entry.get('at_ms'), now_ms)}"))
        rows.append(("", f"reason: {entry.get('reason', '')}"))
    rows.append(("probation", f"yes, since {since(st['probation_since_ms'], now_ms)}" if st.get("probation") else "no"))
    breaker = st["breaker"]
    level = breaker.get("level", "ok")
    rows.append(("breaker", level if level == "ok" else f"{level} since {since(breaker.get('at_ms'), now_ms)}: {breaker.get('why', '')}"))
    for window, r in breaker.get("windows", {}).items():
        rows.append((f"  {WINDOW_NAMES.get(str(window), window + ' s')}",
                     f"{int(r['sends']):,} sends, bounces {r['bounce_rate']:.2%}, complaints {r['complaint_rate']:.3%}"))
    t = breaker.get("thresholds", {})
    if t:
        rows.append(("  levels", f"warn {t['bounce_warn']:.2%} / {t['complaint_warn']:.3%}, "
                                 f"trip {t['bounce_trip']:.2%} / {t['complaint_trip']:.3%}"))
    for day, c in (st.get("send_days") or {}).items():
        rows.append((f"events of {day}'s sends", f"{c['sends']:,} sends, {c['deliveries']:,} delivered, {c['delays']:,} delayed "
                     f"({c['reputation_delays']:,} reputation), {c['hard_bounces']:,} bounced, {c['complaints']:,} complaints"))
    last = st.get("last_verdict")
    if last:
        rows.append((f"verdict on {last['date']}", f"{last['verdict']} (step {last['step_after']} after it)"))
        if last.get("why"):
            rows.append(("", f"why: {last['why']}"))
    rows.append(("CloudWatch alarm", st.get("alarm_state") or "not read yet"))
    rows.append(("suppressed addresses", f"{int(st['suppressed']):,}"))
    rows.append(("malformed SES events", f"{int(st['bad_events']):,}"))
    if st.get("expire_ok_accepted"):
        rows.append(("accepted past expiry", f"{int(st['expire_ok_accepted']):,} bulk message(s) enqueued with expire_ok "
                                             "although the forecast had them go out after they expire"))
    for probe in st.get("probes") or []:
        rows.append((f"probe of {probe['id']}", probe["line"]))
    rows.append(("cooled down", yes_no(st.get("cooled_down"))))
    return rows


def simulation_table(rows: list[dict[str, Any]], title: str) -> Table:
    """One row per simulated day and a totals row: what the scenario table (docs/guides/operating.md) reports."""
    providers = list(rows[0].get("steps") or {}) if rows else []
    # Each provider's own step, by initial: g(oogle) m(icrosoft) y(ahoo) a(pple) o(ther).
    steps_col = ["steps " + "/".join(p[0] for p in providers)] if providers else []
    two_routes = any(r.get("overflow") for r in rows)
    ov_col = ["overflow"] if two_routes else []
    t = table("day", "step", *steps_col, "cap", "sent", *ov_col, "delayed", "backlog", "bounce", "compl", "verdict", "breaker", title=title,
              right=("day", "step", "cap", "sent", "overflow", "delayed", "backlog", "bounce", "compl"), whole=("verdict",))
    for r in rows:
        steps = ["/".join(str(r["steps"][p]) for p in providers)] if providers else []
        ov = [f"{int(r.get('overflow', 0)):,}"] if two_routes else []
        t.add_row(str(r["day"]), str(r["step"]), *steps, f"{r['cap']:,}", f"{r['sent']:,}", *ov, f"{r['delayed']:,}", f"{r['backlog']:,}",
                  f"{r['bounce_rate']:.2%}", f"{r['complaint_rate']:.3%}", r["verdict"], r["breaker"])
    sent = sum(int(r["sent"]) for r in rows)
    delayed = sum(int(r["delayed"]) for r in rows)
    actions = sum(1 for r in rows if r["breaker"] != "ok")
    t.add_section()
    ov_total = [f"{sum(int(r.get('overflow', 0)) for r in rows):,}"] if two_routes else []
    t.add_row("total", "", *([""] if providers else []), "", f"{sent:,}", *ov_total, f"{delayed:,}", f"{rows[-1]['backlog']:,}" if rows else "0",
              "", "", "", f"{actions} days" if actions else "never")
    return t



def campaign_table(rows: list[dict[str, Any]]) -> Table:
    """`ramp campaigns`: one row per campaign still sending."""
    t = table("campaign", "kind", "recipients", "fed", "settled", "waiting", "left out", "probe", "paused", keep=("campaign", "paused"),
              right=("recipients", "fed", "settled", "waiting", "left out"))
    for r in rows:
        total, fed, settled = int(r.get("total", 0)), int(r.get("fed", 0)), int(r.get("settled", 0))
        left_out = int(r.get("suppressed", 0)) + int(r.get("duplicates", 0)) + int(r.get("undeliverable", 0))
        paused = r.get("paused")
        t.add_row(r["id"], r.get("kind", "bulk"), f"{total:,}", f"{fed:,}", f"{settled:,}", f"{total - fed:,}", f"{left_out:,}",
                  r.get("probe", "-"), "yes" if paused else "-")
    return t


def provider_table(by_day: dict[str, dict[str, dict[str, int]]]) -> Table | None:
    """`ramp status`: each mailbox provider's SES events, by the day their messages were sent."""
    t = table("send day", "provider", "sends", "delivered", "delays (rep.)", "bounces", "complaints",
              title="by mailbox provider (SES events)", right=("sends", "delivered", "delays (rep.)", "bounces", "complaints"))
    rows = 0
    for day, providers in by_day.items():
        for provider, c in providers.items():
            sends = c["sends"] or 1
            t.add_row(day, provider, f"{c['sends']:,}", f"{c['deliveries']:,}",
                      f"{c['delays']:,} ({c['reputation_delays'] / sends:.1%})", f"{c['hard_bounces']:,} ({c['hard_bounces'] / sends:.2%})",
                      f"{c['complaints']:,} ({c['complaints'] / sends:.3%})")
            rows += 1
    return t if rows else None


def routes_by_provider(figures: dict[str, Any]) -> Table:
    """`ramp forecast` with an overflow route: today's recipients so far per provider and route."""
    t = table("provider", "dedicated IP", "overflow", "dedicated share", title="today so far, by route",
              right=("dedicated IP", "overflow", "dedicated share"))
    for provider, c in figures["by_provider"].items():
        both = c["dedicated_used"] + c["overflow_used"]
        t.add_row(provider, f"{c['dedicated_used']:,}", f"{c['overflow_used']:,}",
                  f"{c['dedicated_used'] / both:.1%}" if both else "-")
    return t


def provider_ramp_table(ramps: dict[str, dict[str, Any]], today: dict[str, dict[str, int]]) -> Table | None:
    """`ramp status`: each mailbox provider's own ramp today, with today's sends' SES events so far."""
    if not ramps:
        return None
    t = table("provider", "step", "cap", "used", "delays (rep.)", "bounces", "complaints", "last verdict", "rate/s",
              title="per-provider ramps (today)", right=("step", "cap", "used", "delays (rep.)", "bounces", "complaints", "rate/s"))
    for provider, r in ramps.items():
        c = today.get(provider) or {"sends": 0, "reputation_delays": 0, "hard_bounces": 0, "complaints": 0}
        rate = f"{r['rate_per_s']:g}" + (" (cut: receivers deferred)" if r.get("rate_why") else "")
        t.add_row(provider, str(r["step"]), f"{r['cap']:,}", f"{r['used']:,}", f"{c['reputation_delays']:,}",
                  f"{c['hard_bounces']:,}", f"{c['complaints']:,}", r.get("verdict") or "-", rate)
    return t


def vdm_table(vdm: dict[str, Any]) -> Table:
    """`ramp status --vdm`: SES's own count per ISP today, beside ses-ramp's provider table."""
    t = table("provider", "sends", "delivered", "hard bounces", "complaints", title="SES VDM by ISP (today)",
              right=("sends", "delivered", "hard bounces", "complaints"))
    for provider, c in vdm["by_provider"].items():
        sends = c["sends"] or 1
        t.add_row(provider, f"{c['sends']:,}", f"{c['deliveries']:,}", f"{c['hard_bounces']:,} ({c['hard_bounces'] / sends:.2%})",
                  f"{c['complaints']:,} ({c['complaints'] / sends:.3%})")
    return t
