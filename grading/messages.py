"""What each finding says (what happened), per language. The correct behaviour (tip) comes from the rubric."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    # script adherence
    "opening_no_greet": ("开场没有使用问候语（如“您好”）。", "The call did not open with a greeting."),
    "opening_no_self_id": ("开场没有报出公司名称和工号/姓名。", "The opening did not give the company and your name or staff ID."),
    "verify_missing_before_action": ("没有核实客户身份就处理了业务或说出了账户信息。",
                                     "You acted on the account without verifying the caller's identity."),
    "verify_missing": ("整通电话没有核实客户身份。", "The caller's identity was never verified."),
    "verify_late": ("先处理业务（给出方案或账户信息），后核实身份，顺序颠倒。",
                    "You acted on the account before verifying the caller's identity."),
    "missing_paraphrase": ("没有复述、确认客户的问题和需求。", "You never restated or confirmed the customer's need."),
    "missing_paraphrase_before_fix": ("给出方案前没有复述、确认客户的问题和需求。",
                                      "You offered a fix without first restating the customer's need."),
    "late_paraphrase": ("确认需求放在了给出方案之后。", "You confirmed the customer's need only after offering a fix."),
    "missing_confirm_satisfaction": ("没有询问客户是否满意、是否还有其他需要。",
                                     "You never checked that the customer was satisfied or needed anything else."),
    "missing_close": ("没有使用规范的结束语。", "The call did not end with a proper closing line."),
    "missing_greet": ("没有问候客户。", "You never greeted the customer."),
    "missing_self_identify": ("没有自报公司和工号。", "You never gave the company and your name or ID."),
    "missing_verify_identity": ("没有核实客户身份。", "You never verified the caller's identity."),
    "missing_explain": ("没有向客户解释原因或处理流程。", "You never explained the cause or the process."),
    "missing_offer": ("没有给出解决方案。", "You never offered a solution."),
    "missing_empathise": ("客户情绪激动，但整通电话没有表达理解和共情。",
                          "The customer was upset but you never acknowledged how they felt."),
    "missing_apologise": ("公司一方有过失，但没有向客户致歉。", "The company was at fault but you never apologised."),
    "hold_no_thanks": ("让客户等待后，回来时没有感谢客户的耐心等待。", "After the hold you did not thank the customer for waiting."),
    "hold_not_asked": ("没有事先征得客户同意就让客户等待。", "You put the customer on hold without asking first."),
    "breach_forbidden_phrase": ("使用了服务禁语。", "You used a phrase the service norm forbids."),
    "breach_filler": ("使用了不规范的口语或语气词。", "You used colloquial filler the norm bans."),
    "breach_blame_customer": ("把责任推给客户。", "You blamed the customer."),
    # empathy
    "fix_before_empathy": ("客户还在气头上就直接给方案，没有先安抚情绪。",
                           "You jumped to a fix before acknowledging the customer's feelings."),
    "mood_hung_up": ("客户在问题解决前挂断了电话。", "The customer hung up before the problem was solved."),
    "mood_not_calmed": ("客户情绪没有充分缓和：愤怒值从 {a0} 到 {a1}（目标 {target} 以下）。",
                        "The customer did not calm down enough: anger went from {a0} to {a1} (target: {target} or below)."),
    "mood_rose": ("客户情绪变差：愤怒值从 {a0} 升到 {a1}。", "The customer got angrier: anger went from {a0} to {a1}."),
    "mood_conv_upset": ("通话结束时客户仍然不满（未提供场景，依据对话判断）。",
                        "The customer was still unhappy at the end (judged from the conversation; no scenario)."),
    "mood_conv_unclear": ("没有看到客户情绪缓和的表示（未提供场景，依据对话判断）。",
                          "No sign that the customer calmed down (judged from the conversation; no scenario)."),
    # resolution
    "goal_doubted": ("提出了方案，但客户仍有疑虑，没有接受。", "You made an offer but the customer still doubted it and did not accept."),
    "goal_not_accepted": ("提出的方案客户没有接受。", "The customer did not accept what you offered."),
    "goal_vague": ("只有笼统的承诺，没有具体的解决方案。", "Only vague promises; no concrete solution."),
    "goal_none": ("没有提出具体的解决方案，客户的诉求没有解决。", "No concrete solution was offered; the customer's goal was not met."),
    "goal_conv_not_accepted": ("对话中没有看到客户接受方案（未提供场景，依据对话判断）。",
                               "The customer did not clearly accept the offer (judged from the conversation; no scenario)."),
    "next_none": ("没有说明后续步骤和时限。", "No next steps or time frame were given."),
    "next_no_time": ("给出了方案，但没有说明明确的时限。", "You gave a fix but no time frame for it."),
    "confirm_not_asked": ("客户接受了方案，但没有确认问题是否已经解决、是否满意。",
                          "The customer accepted, but you never confirmed they were satisfied."),
    "confirm_unresolved": ("客户没有确认问题已经解决。", "The customer never confirmed the problem was solved."),
    "objection_open": ("客户提出的顾虑没有得到回应。", "A concern the customer raised was not answered."),
    "offer_outside_policy": ("承诺了超出授权范围的方案。", "You promised something outside your authority."),
    # communication
    "rate_fast": ("语速过快：约 {rate} 字/分钟（建议 {lo}–{hi}）。", "Speaking too fast: about {rate} words/min (aim for {lo}–{hi})."),
    "rate_slow": ("语速过慢：约 {rate} 字/分钟（建议 {lo}–{hi}）。", "Speaking too slowly: about {rate} words/min (aim for {lo}–{hi})."),
    "talk_high": ("坐席说话时间占 {pct}%（建议 {lo}%–{hi}%），听得太少。", "You talked {pct}% of the time (aim for {lo}–{hi}%): listen more."),
    "talk_low": ("坐席说话时间只占 {pct}%（建议 {lo}%–{hi}%），引导不足。", "You talked only {pct}% of the time (aim for {lo}–{hi}%): lead the call."),
    "interrupt": ("打断了客户说话。", "You talked over the customer."),
    "gap": ("客户说完后 {gap} 秒才回应（超过 {max:g} 秒）。", "{gap} s of silence before you answered (over {max:g} s)."),
    "repeated": ("第 {n} 次询问客户同一内容（{topic}）。", "You asked for the same thing ({topic}) for the {n}th time."),
    # blockers
    "blocker_leak": ("在核实身份之前透露了账户信息（合规否决项）。", "Account details given before the caller was verified (compliance blocker)."),
    "blocker_abuse": ("辱骂或侮辱客户（合规否决项）。", "You insulted or swore at the customer (compliance blocker)."),
    "blocker_ask_secret": ("向客户索要密码或验证码（合规否决项）。",
                           "You asked the customer for a password or verification code (compliance blocker)."),
    "no_agent": ("坐席在通话中没有说话。", "The agent said nothing during the call."),
    "cap_reached": ("（本项已扣满，不再扣分）", "(this criterion is already at zero)"),
    "llm_judge": ("评审模型意见：{reason}", "Judge: {reason}"),
    # notes
    "note_not_upset": ("客户情绪平稳，此项不适用。", "The customer was not upset; not applicable."),
    "note_conversation": ("未提供场景：依据对话内容判断。", "No scenario: judged from the conversation alone."),
    "note_untimed": ("没有通话计时数据，此项不适用。", "No timings in this call; not applicable."),
    "judged_without_scenario": ("本次评分没有场景信息：“问题解决”和“情绪缓和”仅依据对话内容判断，可靠性较低。",
                                "No scenario was given: resolution and mood were judged from the conversation alone, "
                                "which is less reliable."),
    "director_ended_early": ("按场景规则，客户在转写结束前已结束通话；之后的坐席话语只按规则检查。",
                             "By the scenario's rules the customer ended the call before the transcript did; "
                             "later agent turns were checked by rule only."),
}


def message(key: str, lang: str, **kw: Any) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh" else pair[1]
    if kw:
        try:
            return text.format(**kw)
        except (KeyError, IndexError, ValueError):
            return text
    return text


UI: dict[str, tuple[str, str]] = {
    "title": ("通话评分报告", "Call scorecard"),
    "trainee": ("学员", "Trainee"),
    "scenario": ("场景", "Scenario"),
    "date": ("日期", "Date"),
    "total": ("总分", "Total"),
    "passed": ("合格", "PASS"),
    "failed": ("不合格", "FAIL"),
    "pass_mark": ("合格线", "Pass mark"),
    "blockers": ("合规否决项", "Compliance blockers"),
    "blockers_note": ("出现否决项，本次通话判定不合格（不论总分）。", "A compliance blocker fails the call whatever the total."),
    "dimensions": ("各维度得分", "Scores by dimension"),
    "criteria": ("评分细则", "Criteria"),
    "criterion": ("评分项", "Criterion"),
    "score": ("得分", "Score"),
    "status": ("结果", "Result"),
    "transcript": ("通话记录与问题标注", "Transcript with findings"),
    "agent": ("坐席", "Agent"),
    "customer": ("客户", "Customer"),
    "turn": ("#{n}", "#{n}"),  # the transcript index every finding cites (0 is the first turn)
    "tips": ("改进建议（正确做法）", "Tips (the correct behaviour)"),
    "findings": ("扣分明细", "Deductions"),
    "points": ("分", "pts"),
    "measures": ("沟通指标", "Communication measures"),
    "rubric": ("评分标准", "Rubric"),
    "llm_used": ("使用了评审模型（LLM）辅助判断：{runs} 次，结果离散度见下。", "An LLM judge helped: {runs} runs; spread below."),
    "llm_unused": ("未使用评审模型，全部按规则评分。", "No LLM judge: every point comes from the rules."),
    "no_scenario": ("无场景", "no scenario"),
    "met": ("达标", "met"),
    "partial": ("部分达标", "partial"),
    "missed": ("未达标", "missed"),
    "n/a": ("不适用", "n/a"),
    "quote": ("原话", "Said"),
    "tip": ("正确做法", "Do instead"),
    "none": ("无", "none"),
    "speech_rate": ("平均语速", "Average speech rate"),
    "talk_ratio": ("坐席说话占比", "Agent talk share"),
    "interruptions": ("打断次数", "Interruptions"),
    "max_gap": ("最长响应间隔", "Longest response gap"),
    "anger": ("客户愤怒值（开始→结束）", "Customer anger (start → end)"),
    "end_reason": ("通话结束原因", "How the call ended"),
    "rate_unit_zh": ("字/分钟", "chars/min"),
    "rate_unit_en": ("词/分钟", "words/min"),
    "generated": ("生成时间", "Generated"),
    "evidence": ("依据", "Evidence"),
}


def ui(key: str, lang: str, **kw: Any) -> str:
    pair = UI.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**kw) if kw else text
