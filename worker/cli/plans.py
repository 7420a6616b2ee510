"""`ramp schedule`, `ramp simulate`, `ramp status`, `ramp forecast`: the plan, a rehearsal of it, where it stands,
and when what waits goes out."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ses_ramp.worker.cli import render
from ses_ramp.worker.cli.common import cli, err, fail, out, ping_or_exit, runtime_from_env, settings_or_exit
from ses_ramp.worker.ops.status import routes_today


@cli.command("schedule")
def schedule_cmd(
    profile: str | None = typer.Option(None, help="consumer (1.5x) or b2b (1.2x)."),
    mix: str | None = typer.Option(None, help="Recipient mix, e.g. google=0.5,microsoft=0.3,yahoo=0.1,other=0.1: "
                                   "each provider's expected share of each day (default RAMP_PROVIDER_MIX)."),
    as_json: bool = typer.Option(False, "--json"),
    plot: Path | None = typer.Option(None, help="Write a PNG chart of the ramp."),
) -> None:
    """Print the day-by-day warm-up plan (day, step, cap, cumulative, and each mailbox provider's part)."""
    from ses_ramp.config import provider_ramp, schedule

    settings = settings_or_exit(**({"warmup_profile": profile} if profile else {}), **({"provider_mix": mix} if mix else {}))
    cfg = schedule.ScheduleConfig.from_settings(settings)
    days = schedule.plan(cfg)
    shares = provider_ramp.shares(settings.provider_shares, {}) if settings.provider_ramps else {}
    parts = [provider_ramp.split(d.cap, shares) if shares else {} for d in days]
    if cfg.low_volume_warning:
        err.print(f"[yellow]warning:[/yellow] {cfg.low_volume_warning}")
    if plot:
        from ses_ramp.worker.ops.charts import plot_schedule

        plot_schedule(days, cfg, plot)
        err.print(f"wrote {plot}")
    if as_json:
        print(json.dumps([{**d.__dict__, "providers": part} for d, part in zip(days, parts)]))
        return
    names = list(shares)
    table = render.table("day", "step", "cap", "cumulative", *names, right=("day", "step", "cap", "cumulative", *names),
                         title=f"warm-up: {cfg.start_per_day:,} -> {cfg.target_per_day:,}/day, x{cfg.multiplier} per step, {len(days)} sending days"
                               + (" (per provider: its share of the day, every day healthy)" if names else ""))
    for d, part in zip(days, parts):
        table.add_row(str(d.day), str(d.step), f"{d.cap:,}", f"{d.cumulative:,}", *(f"{part[p]:,}" for p in names))
    out.print(table)


@cli.command()
def status(as_json: bool = typer.Option(False, "--json"),
           vdm: bool = typer.Option(False, "--vdm", help="Also SES's own figures per ISP (Virtual Deliverability Manager).")) -> None:
    """Today's budget: warm-up day and step, cap/used/reserve, hour allowance, rate, queues."""
    from ses_ramp.worker.ops.status import collect, vdm_today

    runtime = runtime_from_env()
    data = collect(runtime)
    if vdm:
        data["vdm"] = vdm_today(runtime)
    if as_json:
        print(json.dumps(data, default=str))
        return
    table = render.table("what", "value", title=f"ses-ramp status (key prefix {runtime.settings.key_prefix})")
    table.show_header = False
    for what, value in render.status_rows(data, runtime.budget.now_ms()):
        table.add_row(what, value)
    out.print(table)
    ramps = render.provider_ramp_table(data.get("provider_ramps") or {}, (data.get("providers") or {}).get(data["date"], {}))
    if ramps is not None:
        out.print(ramps)
    providers = render.provider_table(data.get("providers") or {})
    if providers is not None:
        out.print(providers)
    if vdm:
        out.print(render.vdm_table(data["vdm"]) if not data["vdm"]["problem"] else f"[yellow]{data['vdm']['problem']}[/yellow]",
                  soft_wrap=True)
    if data.get("cooled_down"):
        out.print("[yellow]The IP cooled down after an idle gap: the ramp restarted from an earlier step.[/yellow]")
    if data.get("warning"):
        out.print(f"[yellow]warning:[/yellow] {data['warning']}")


@cli.command("simulate")
def simulate_cmd(
    days: int = typer.Option(45, min=1, max=120),
    profile: str | None = typer.Option(None, help="consumer (1.5x) or b2b (1.2x): the schedule and how receivers react."),
    multiplier: float | None = typer.Option(None, min=1.01, help="Cap growth per step, overriding the profile's (e.g. 1.5 or 2.0)."),
    daily_demand: int = typer.Option(50_000, "--daily-demand", min=50, help="Recipients the app wants to send per day."),
    bounce_rate: float = typer.Option(0.005, "--bounce-rate", min=0, max=1, help="Hard bounces per recipient: list hygiene."),
    complaint_rate: float = typer.Option(0.0001, "--complaint-rate", min=0, max=1, help="Complaints per delivered recipient "
                                         "(Gmail's users' only reach Postmaster Tools, never a Complaint event)."),
    gmail_spam_rate: float | None = typer.Option(None, "--gmail-spam-rate", min=0, max=1, help="Share of Gmail's delivered "
                                                 "recipients who press Report spam (default: --complaint-rate); Postmaster "
                                                 "Tools reports it two days later, above Gmail's volume threshold."),
    dirty_list_day: int | None = typer.Option(None, "--dirty-list-day", help="Day an unverified list (that day's bulk, 12% hard "
                                              "bounces) arrives: probed first (RAMP_PROBE_*), or with --no-probe sent as it is."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Probe a list of new recipients before sending it all (RAMP_PROBE_NEW_RECIPIENTS)."),
    demand_days: int | None = typer.Option(None, "--demand-days", min=1, help="Demand arrives on the first N days only."),
    forecast_day: int | None = typer.Option(
        None, "--forecast-day", min=1, help="Keep the forecast made that morning beside each later day (--json: 'forecast')."),
    slow_provider_day: int | None = typer.Option(
        None, "--slow-provider-day", help="Day a provider with half the recipients defers 30% of its mail (DeliveryDelay events); "
        "with --slow-provider, the day that provider starts deferring."),
    slow_provider: str | None = typer.Option(
        None, "--slow-provider", help="The provider (google, microsoft, yahoo, apple, other) whose receivers defer from --slow-provider-day."),
    slow_days: int = typer.Option(1, "--slow-days", min=1, help="How many days --slow-provider defers."),
    slow_share: float | None = typer.Option(
        None, "--slow-share", min=0, max=1, help="Share of its mail the slow provider defers (default 0.2 for --slow-provider: "
        "a day that holds; 0.3 or more steps back)."),
    mix: str | None = typer.Option(None, help="Recipient mix, e.g. google=0.5,microsoft=0.3,yahoo=0.1,other=0.1 (default RAMP_PROVIDER_MIX)."),
    tolerance: float | None = typer.Option(None, min=1.0, help="Growth over the IP's best day receivers accept before deferring (consumer 2.0, b2b 1.3)."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same run."),
    overflow: bool | None = typer.Option(
        None, "--overflow/--no-overflow", help="Send what the dedicated IP may not carry yet through an overflow route "
        "modelled as already trusted (default: on when RAMP_OVERFLOW_CONFIGURATION_SET is set)."),
    as_json: bool = typer.Option(False, "--json"),
    plot: Path | None = typer.Option(None, help="Write cap vs sent (dedicated and overflow, stacked) vs backlog as a PNG."),
) -> None:
    """Run the real schedule, gate, sender, events handler and breaker against SES and a receiver model, fast."""
    from ses_ramp.config.provider_ramp import PROVIDERS

    overrides: dict[str, object] = {"warmup_profile": profile} if profile else {}
    if multiplier:
        overrides["warmup_multiplier"] = multiplier
    if mix:
        overrides["provider_mix"] = mix
    settings = settings_or_exit(**overrides)
    if not probe:
        settings = settings.model_copy(update={"probe_new_recipients": 0})
    if overflow is False:
        settings = settings.model_copy(update={"overflow_configuration_set": None})
    elif overflow and not settings.overflow_configuration_set:
        settings = settings.model_copy(update={"overflow_configuration_set": "ses-ramp-overflow"})
    if settings.redis_url is not None:
        ping_or_exit(settings)  # before the simulator's imports: an unreachable Redis is said at once
    from ses_ramp.worker.ops.simulate import PROFILE_TOLERANCE, ReceiverModel, run_simulation, target_reached_on
    if slow_provider is not None and slow_provider not in PROVIDERS:
        fail(f"--slow-provider {slow_provider!r}: one of {', '.join(PROVIDERS)}")
    if slow_provider is not None and slow_provider_day is None:
        fail("--slow-provider needs --slow-provider-day: the day its receivers start deferring")
    model = ReceiverModel(seed=seed, tolerance=tolerance or PROFILE_TOLERANCE[settings.warmup_profile], bounce_rate=bounce_rate,
                          complaint_rate=complaint_rate, gmail_spam_rate=gmail_spam_rate, dirty_day=dirty_list_day, slow_day=slow_provider_day,
                          slow_provider=slow_provider, slow_days=slow_days,
                          slow_share=slow_share if slow_share is not None else (0.2 if slow_provider else 0.3))
    if settings.redis_url is None:
        err.print("using a throw-away embedded redis-server for this simulation (set RAMP_REDIS_URL to use yours)")
    data = run_simulation(settings, days, daily_demand, model, demand_days=demand_days, forecast_day=forecast_day)
    if plot:
        from ses_ramp.worker.ops.charts import plot_simulation

        dirty = f", unverified list on day {dirty_list_day}" if dirty_list_day else ""
        routes = ", with overflow" if settings.overflow_configuration_set else ""
        plot_simulation(data, plot, title=f"{settings.warmup_profile} x{settings.multiplier}, demand {daily_demand:,}/day{dirty}{routes}, seed {seed}")
        err.print(f"wrote {plot}")
    if as_json:
        print(json.dumps(data))
        return
    out.print(render.simulation_table(data, f"simulated warm-up: {settings.warmup_profile} x{settings.multiplier}, "
                                            f"demand {daily_demand:,}/day, seed {seed}"))
    target = settings.warmup_target_per_day
    reached = target_reached_on(data, target)
    out.print(f"{target:,}/day reached on day {reached}" if reached else f"{target:,}/day not reached in {days} days")


@cli.command("forecast")
def forecast_cmd(
    horizon_days: int = typer.Option(120, "--days", min=1, max=400, help="Forecast at most this many days ahead."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """When what waits goes out: recipients per day by kind, until the backlog clears at the current ramp."""
    from ses_ramp.config import schedule
    from ses_ramp.producers import forecast

    runtime = runtime_from_env()
    settings = runtime.settings
    state, today, waiting = forecast.read_inputs(runtime.client, settings)
    days = forecast.days(schedule.ScheduleConfig.from_settings(settings), state, today,
                         settings.transactional_reserve_share, waiting, horizon_days)
    routed = settings.overflow_configuration_set is not None
    overflow = forecast.by_overflow(days, waiting, settings.overflow_waits_s) if routed else {}
    # Today's sends by route and provider so far: the same figures as `ramp status` (one plain function).
    so_far = routes_today(runtime, days[0].on.isoformat()) if routed else {}
    if as_json:
        print(json.dumps([{**d.__dict__, "on": d.on.isoformat(),
                           **({"overflow": sum(overflow.values()) if i == 0 else 0} if routed else {}),
                           **({"so_far": {f: so_far[f] for f in ("dedicated_sent", "overflow_sent", "dedicated_share",
                                                                  "by_provider")}} if routed and i == 0 else {})}
                          for i, d in enumerate(days)]))
        return
    table = render.table("date", "cap", "transactional", "bulk", "still waiting",
                         right=("cap", "transactional", "bulk", "still waiting"),
                         title=f"forecast: {waiting.total('transactional'):,} transactional and {waiting.total('bulk'):,} bulk "
                               "recipients waiting, every day healthy")
    for d in days:
        table.add_row(d.on.isoformat(), f"{d.cap:,}", f"{d.transactional:,}", f"{d.bulk:,}", f"{d.left:,}")
    out.print(table)
    last = days[-1]
    if routed and so_far["by_provider"]:
        out.print(render.routes_by_provider(so_far))
    if overflow:
        waits = settings.overflow_waits_s
        out.print("with the overflow route (" + str(settings.overflow_configuration_set) + "): " + ", ".join(
            f"{n:,} {kind} recipients leave by it once they have waited {waits[kind]:g} s" for kind, n in overflow.items())
            + "; the dedicated IP keeps the line above", soft_wrap=True)
    out.print(f"the {'dedicated IP' + chr(39) + 's line' if overflow else 'backlog'} clears on {last.on.isoformat()}" if last.left == 0 else
              f"{last.left:,} recipients still waiting after {last.on.isoformat()} (--days to look further)")
