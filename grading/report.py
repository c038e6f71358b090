"""The scorecard as a standalone HTML page (printable on A4) and as text for the terminal.

The page follows the call's language, needs no scripts or external files, and escapes every text
that came from a call, a scenario or a rubric.
"""

from __future__ import annotations

import unicodedata
from html import escape
from typing import Any

from grading.messages import ui
from grading.scorecard import Scorecard

CSS = """
*{box-sizing:border-box}
body{font-family:"Noto Sans SC","PingFang SC","Microsoft YaHei","Helvetica Neue",Arial,sans-serif;color:#1d2329;
  margin:0;background:#f4f6f8;line-height:1.55;font-size:14px}
main{max-width:900px;margin:24px auto;background:#fff;padding:28px 36px;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:26px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e8ee}
.head{display:flex;justify-content:space-between;gap:20px;align-items:flex-start}
.meta{margin:6px 0 0;border-collapse:collapse}
.meta th{text-align:left;font-weight:normal;color:#5b6672;padding:1px 12px 1px 0;white-space:nowrap}
.score{text-align:center;min-width:150px}
.total{font-size:44px;font-weight:700;line-height:1}
.total small{font-size:16px;color:#5b6672;font-weight:normal}
.badge{display:inline-block;margin-top:8px;padding:3px 14px;border-radius:14px;font-weight:700;color:#fff}
.pass{background:#1e8e3e}.fail{background:#c5221f}
.passmark{color:#5b6672;font-size:12px;margin-top:4px}
.blockers{border:2px solid #c5221f;background:#fdecea;border-radius:8px;padding:10px 14px;margin-top:18px}
.blockers h2{border:0;margin:0 0 6px;color:#c5221f}
.bar-row{display:grid;grid-template-columns:150px 1fr 90px;gap:10px;align-items:center;margin:6px 0}
.bar{background:#e3e8ee;border-radius:6px;height:14px;overflow:hidden}
.bar span{display:block;height:100%;background:#1a73e8}
.bar span.low{background:#e37400}.bar span.bad{background:#c5221f}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.crit{width:100%;border-collapse:collapse;margin-bottom:12px}
table.crit th,table.crit td{border-bottom:1px solid #eceff3;padding:5px 6px;text-align:left;vertical-align:top}
table.crit th{background:#f7f9fb;font-weight:600}
.st-met{color:#1e8e3e}.st-partial{color:#e37400}.st-missed{color:#c5221f}.st-na{color:#8a949e}
.ev{color:#5b6672;font-size:12px}
.turn{display:grid;grid-template-columns:64px 1fr;gap:10px;padding:8px 0;border-bottom:1px solid #eceff3;page-break-inside:avoid}
.who{font-weight:600;color:#5b6672;font-size:12px}
.who b{display:block;color:#1d2329;font-size:13px}
.agent .who b{color:#1a73e8}
.txt{white-space:pre-wrap;word-break:break-word}
mark{background:#ffe3a3;padding:0 2px;border-radius:3px}
mark.blk{background:#f9c0bb}
.finding{margin:6px 0 0;padding:6px 10px;border-left:4px solid #e37400;background:#fff8ec;border-radius:4px;font-size:13px}
.finding.blk{border-color:#c5221f;background:#fdecea}
.finding.up{border-color:#1e8e3e;background:#eef8f1}
.pts{font-weight:700;margin-right:6px}
.q{color:#3c4650}
.tip{color:#1e5631;margin-top:2px}
ol.tips li{margin:4px 0}
.notes{color:#5b6672;font-size:12px;margin-top:24px}
.measures td{padding:2px 14px 2px 0}
@page{size:A4;margin:14mm 12mm}
@media print{
  body{background:#fff;font-size:11.5px}
  main{box-shadow:none;margin:0;max-width:none;padding:0;border-radius:0}
  .bar span{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .badge,mark,.finding,.blockers{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  h2{page-break-after:avoid}
}
"""


def _e(x: Any) -> str:
    return escape("" if x is None else str(x), quote=True)


def _pts(x: float) -> str:
    return f"{x:+g}" if x else "0"


def _highlight(text: str, marks: list[tuple[str, bool]]) -> str:
    """The turn's words, escaped, with every quoted span wrapped in <mark> (overlaps merged)."""
    spans: list[tuple[int, int, bool]] = []
    for quote, blocker in marks:
        if not quote:
            continue
        i = text.find(quote)
        if i < 0:
            i = text.lower().find(quote.lower())
        if i >= 0:
            spans.append((i, i + len(quote), blocker))
    spans.sort()
    merged: list[list] = []
    for a, b, blk in spans:
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            merged[-1][2] = merged[-1][2] or blk
        else:
            merged.append([a, b, blk])
    out, pos = [], 0
    for a, b, blk in merged:
        out.append(_e(text[pos:a]))
        out.append(f'<mark class="{"blk" if blk else "neg"}">{_e(text[a:b])}</mark>')
        pos = b
    out.append(_e(text[pos:]))
    return "".join(out)


def _date(card: Scorecard) -> str:
    d = card.call_date or card.graded_at or ""
    return d[:16].replace("T", " ")


def render_html(card: Scorecard) -> str:
    lang = card.language if card.language in ("zh", "en") else "en"
    L = lambda key, **kw: ui(key, lang, **kw)  # noqa: E731
    parts: list[str] = []
    html_lang = "zh-CN" if lang == "zh" else "en"
    title = f'{L("title")} · {card.trainee or ""} · {card.scenario_title or card.scenario_id or ""}'.strip(" ·")
    parts.append(f'<!DOCTYPE html><html lang="{html_lang}"><head><meta charset="utf-8">'
                 f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                 f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>")
    # ---- header
    verdict = L("passed") if card.passed else L("failed")
    parts.append('<div class="head"><div>')
    parts.append(f'<h1>{_e(L("title"))}</h1><table class="meta">')
    for key, val in (("trainee", card.trainee or "—"),
                     ("scenario", card.scenario_title or card.scenario_id or L("no_scenario")),
                     ("date", _date(card)),
                     ("rubric", f"{card.rubric_name} ({card.rubric_id} v{card.rubric_version})")):
        parts.append(f'<tr><th>{_e(L(key))}</th><td>{_e(val)}</td></tr>')
    parts.append("</table></div>")
    parts.append(f'<div class="score"><div class="total">{card.total:g}<small> / {card.max_total:g}</small></div>'
                 f'<div class="badge {"pass" if card.passed else "fail"}">{_e(verdict)}</div>'
                 f'<div class="passmark">{_e(L("pass_mark"))} {card.pass_mark:g}</div></div></div>')
    # ---- blockers
    if card.blockers:
        parts.append(f'<section class="blockers"><h2>{_e(L("blockers"))}</h2><p>{_e(L("blockers_note"))}</p><ul>')
        for b in card.blockers:
            parts.append(f'<li><b>{_e(b.name)}</b> — {_e(L("turn", n=b.turn))}: '
                         f'<span class="q">“{_e(b.quote)}”</span><div class="tip">{_e(L("tip"))}: {_e(b.tip)}</div></li>')
        parts.append("</ul></section>")
    # ---- dimension bars
    parts.append(f'<h2>{_e(L("dimensions"))}</h2>')
    for d in card.dimensions:
        pct = 0 if d.max <= 0 else max(0.0, min(100.0, d.score / d.max * 100))
        cls = "" if pct >= 75 else ("low" if pct >= 50 else "bad")
        parts.append(f'<div class="bar-row"><div>{_e(d.name)}</div><div class="bar"><span class="{cls}" '
                     f'style="width:{pct:.0f}%"></span></div><div class="num">{d.score:g} / {d.max:g}</div></div>')
    # ---- criteria
    parts.append(f'<h2>{_e(L("criteria"))}</h2>')
    for d in card.dimensions:
        parts.append(f'<table class="crit"><tr><th style="width:34%">{_e(d.name)}</th><th style="width:12%">'
                     f'{_e(L("score"))}</th><th style="width:12%">{_e(L("status"))}</th><th>{_e(L("evidence"))}</th></tr>')
        for c in d.criteria:
            st = c.status.replace("/", "")
            ev = "; ".join(f'{L("turn", n=e.turn)} “{e.quote}”' for e in c.evidence[:2])
            extra = c.note or ""
            parts.append(f'<tr><td>{_e(c.name)}{" *" if c.judged else ""}</td><td class="num">{c.score:g} / {c.max:g}</td>'
                         f'<td class="st-{_e(st)}">{_e(L(c.status))}</td><td class="ev">{_e(ev)}'
                         f'{"<br>" if ev and extra else ""}{_e(extra)}</td></tr>')
        parts.append("</table>")
    # ---- transcript with findings
    parts.append(f'<h2>{_e(L("transcript"))}</h2>')
    by_turn: dict[int | None, list] = {}
    for f in card.findings:
        by_turn.setdefault(f.turn, []).append(f)
    for f in by_turn.get(None, []):
        parts.append(_finding_html(f, L))
    for t in card.transcript:
        fs = by_turn.get(t.turn, [])
        who = L("agent") if t.speaker == "agent" else L("customer")
        body = _highlight(t.text, [(f.quote, f.blocker) for f in fs if f.points <= 0])
        parts.append(f'<div class="turn {"agent" if t.speaker == "agent" else "customer"}" id="turn-{t.turn}">'
                     f'<div class="who"><b>{_e(who)}</b>{_e(L("turn", n=t.turn))}</div><div>'
                     f'<div class="txt">{body}</div>')
        for f in fs:
            parts.append(_finding_html(f, L))
        parts.append("</div></div>")
    # ---- tips
    tips: list[str] = []
    for f in card.findings:
        if f.tip and f.tip not in tips and (f.points < 0 or f.blocker):
            tips.append(f.tip)
    parts.append(f'<h2>{_e(L("tips"))}</h2>')
    if tips:
        parts.append('<ol class="tips">' + "".join(f"<li>{_e(t)}</li>" for t in tips) + "</ol>")
    else:
        parts.append(f"<p>{_e(L('none'))}</p>")
    # ---- measures
    m = card.measures
    rows = []
    if m.speech_rate is not None:
        rows.append((L("speech_rate"), f'{m.speech_rate:g} {L("rate_unit_" + lang)}'))
    if m.talk_ratio is not None:
        rows.append((L("talk_ratio"), f"{m.talk_ratio * 100:.0f}%"))
    rows.append((L("interruptions"), str(sum(1 for f in card.findings if f.rule == "interruptions") or m.interruptions)))
    if m.max_response_gap is not None:
        rows.append((L("max_gap"), f"{m.max_response_gap:g} s"))
    if m.anger_start is not None and m.anger_end is not None:
        rows.append((L("anger"), f"{m.anger_start} → {m.anger_end}"))
    if m.end_reason:
        rows.append((L("end_reason"), m.end_reason))
    parts.append(f'<h2>{_e(L("measures"))}</h2><table class="measures">'
                 + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>")
    # ---- notes
    notes = list(card.notes)
    judge = card.llm_judge
    if judge.used:
        notes.append(L("llm_used", runs=judge.runs))
        for jc in judge.criteria:
            if jc.runs:
                notes.append(f"{jc.criterion}: Δ {', '.join(f'{d:+g}' for d in jc.deltas)} · spread {jc.spread:g} · "
                             f"applied {jc.applied:+g} (±{jc.band:g})")
    else:
        notes.append(L("llm_unused"))
    parts.append('<div class="notes">' + "".join(f"<p>{_e(n)}</p>" for n in notes)
                 + f'<p>{_e(L("generated"))}: {_e(card.graded_at[:19].replace("T", " "))}</p></div>')
    parts.append("</main></body></html>")
    return "".join(parts)


def _finding_html(f, L) -> str:
    cls = "blk" if f.blocker else ("up" if f.points > 0 else "")
    pts = L("blockers") if f.blocker else f'{_pts(f.points)} {L("points")}'
    return (f'<div class="finding {cls}"><span class="pts">{_e(pts)}</span>{_e(f.message)} '
            f'<span class="q">{_e(L("quote"))}: “{_e(f.quote)}”</span>'
            f'<div class="tip">{_e(L("tip"))}: {_e(f.tip)}</div></div>')


def _pad(text: str, width: int) -> str:
    """Left-align for a terminal: CJK characters take two columns."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
    return text + " " * max(0, width - cols)


def render_text(card: Scorecard) -> str:
    lang = card.language if card.language in ("zh", "en") else "en"
    L = lambda key, **kw: ui(key, lang, **kw)  # noqa: E731
    out = []
    verdict = L("passed") if card.passed else L("failed")
    out.append(f'{L("title")}: {card.total:g}/{card.max_total:g}  [{verdict}]  ({L("pass_mark")} {card.pass_mark:g})')
    out.append(f'{L("trainee")}: {card.trainee or "—"}   {L("scenario")}: {card.scenario_title or card.scenario_id or L("no_scenario")}'
               f'   {L("date")}: {_date(card)}')
    out.append(f'{L("rubric")}: {card.rubric_name} ({card.rubric_id} v{card.rubric_version})')
    if card.blockers:
        out.append("")
        out.append(f'!! {L("blockers")}: {L("blockers_note")}')
        for b in card.blockers:
            out.append(f'   - {b.name} @{b.turn}: “{b.quote}”')
    out.append("")
    for d in card.dimensions:
        filled = int(round(20 * (d.score / d.max if d.max else 0)))
        out.append(f'{_pad(d.name, 18)} {"█" * filled}{"░" * (20 - filled)} {d.score:g}/{d.max:g}')
        for c in d.criteria:
            out.append(f'    {_pad(c.name, 26)} {c.score:>5g}/{c.max:<4g} {L(c.status)}{" *" if c.judged else ""}')
    if card.findings:
        out.append("")
        out.append(L("findings") + ":")
        for f in card.findings:
            pts = L("blockers") if f.blocker else f"{_pts(f.points)}"
            where = L("turn", n=f.turn) if f.turn is not None else "—"
            out.append(f'  [{where}] {pts}  {f.message}')
            out.append(f'      {L("quote")}: “{f.quote}”')
            out.append(f'      {L("tip")}: {f.tip}')
    if card.notes:
        out.append("")
        out.extend(card.notes)
    out.append(L("llm_used", runs=card.llm_judge.runs) if card.llm_judge.used else L("llm_unused"))
    return "\n".join(out) + "\n"
