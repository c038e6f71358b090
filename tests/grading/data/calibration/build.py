"""Writes the calibration transcripts (run it after editing a family; the files are the test data).

    python tests/grading/data/calibration/build.py

Each family is one call: an exemplary agent, and variants that each break one thing. Every variant
declares its planted breach(es) in `meta.calibration.expect` (JSON) or in `# expect:` lines (text
format): the rubric criterion, the rule, the transcript turn index and the exact words. `twin_of`
marks a harmless rewording whose score must stay close to the original's. Turn timings are written
for the timed families (speech at a steady rate, short gaps, a long pause after a hold).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
A, C = "agent", "customer"
RATE = {"zh": 220.0, "en": 150.0}  # chars / words per minute


def _units(text: str, lang: str) -> int:
    if lang == "zh":
        return len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+", text))
    return len(re.findall(r"[A-Za-z0-9']+", text))


def timed(turns: list[dict], lang: str, interrupt_at: int | None = None) -> list[dict]:
    t = 0.0
    out = []
    for i, turn in enumerate(turns):
        turn = dict(turn)
        gap = 0.8
        if i > 1 and turn["speaker"] == A and out[-2]["speaker"] == A and (
                "稍等" in out[-2]["text"] or out[-2]["text"].endswith("hold?")):
            gap = 25.0  # the hold: the agent comes back after checking
        start = t + gap if i else 0.0
        dur = max(0.6, _units(turn["text"], lang) / RATE[lang] * 60)
        if interrupt_at is not None and i == interrupt_at:
            start = out[-1]["end"] - 1.2  # talks over the customer's last words
            out[-1]["interrupted"] = True
        turn["start"], turn["end"] = round(start, 2), round(start + dur, 2)
        t = turn["end"]
        out.append(turn)
    return out


def edit(base: list[tuple[str, str]], replace: dict[int, str] | None = None, delete: tuple[int, ...] = ()) -> list[tuple[str, str]]:
    replace = replace or {}
    return [(sp, replace.get(i, tx)) for i, (sp, tx) in enumerate(base) if i not in delete]


def E(criterion: str, rule: str, turn: int, quote: str, blocker: bool = False) -> dict:
    return {"criterion": criterion, "rule": rule, "turn": turn, "quote": quote, "blocker": blocker}


# ---------------------------------------------------------------------------------------------- parcel, zh
PZ = [
    (C, "喂！我的快递到底还送不送了？都晚了三天了！你们顺达到底怎么回事？"),
    (A, "您好，顺达快递客服中心，工号3021，很高兴为您服务。"),
    (C, "我的快件三天了还没到，之前你们说第二天就到，结果呢？我在家等了一整天，到现在连个电话都没有！"),
    (A, "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？"),
    (C, "王建国，手机尾号5678。你赶紧给我查一下，别再让我等了。"),
    (A, "王先生，非常抱歉，我完全理解您现在着急的心情。请问具体是什么情况呢？"),
    (C, "物流信息三天前就停在杭州中转站了，一直没动。前天我打过电话，你们客服说第二天一定到，结果还是没到。里面是我女儿的生日礼物，后天就是她生日了。"),
    (A, "您的意思是快件在杭州中转站停了三天，之前还承诺过第二天到，对吗？"),
    (C, "对，就是这样，你说现在怎么办吧，我可不想再听什么保证了。"),
    (A, "需要为您查询一下，请您稍等一两分钟，可以吗？"),
    (C, "行，你快点查，我等着。"),
    (A, "感谢您的耐心等待。我马上为您安排免费加急重发，明天中午前送到，您看可以吗？"),
    (C, "好吧，那明天中午前必须送到，别再让我失望了。"),
    (A, "请问还有其他可以帮您的吗？"),
    (C, "没有了，就这个事，你们抓紧吧。"),
    (A, "感谢您的来电，祝您生活愉快，再见。"),
    (C, "再见。"),
]
PZ_RE = edit(PZ, {
    1: "您好，这里是顺达快递客服中心，我是工号3021的客服，很高兴为您服务。",
    3: "为了保护您的信息安全，麻烦您提供一下姓名和手机号后四位。",
    5: "王先生，真是对不起，您的心情我完全能理解。麻烦您说一下具体是什么情况？",
    7: "也就是说，快件在杭州中转站停了三天，之前还承诺过第二天到，是这样吗？",
    9: "我需要为您查询一下，请您稍等一两分钟，好吗？",
    11: "谢谢您的耐心等候。我现在就为您安排免费加急重发，明天中午前送到，您看这样可以吗？",
    13: "请问还有其他需要我帮您的吗？",
    15: "感谢您的来电，祝您一切顺利，再见。",
})
PZ_FORBID = "这个情况我也不清楚，需要为您查询一下，请您稍等一两分钟，可以吗？"

PARCEL_ZH = {
    "family": "parcel-zh", "scenario": "parcel-late-angry", "language": "zh", "direction": "inbound",
    "kind": "inbound_complaint", "timed": True, "format": "json",
    "variants": {
        "exemplary": dict(turns=PZ, breaks=None, expect=[]),
        "exemplary_reworded": dict(turns=PZ_RE, twin_of="exemplary", breaks=None, expect=[]),
        "skips_verification": dict(turns=edit(PZ, delete=(3, 4)), breaks="skips verification",
                                   expect=[E("verification", "verification", 9, "加急重发")]),
        "forbidden_phrase": dict(turns=edit(PZ, {9: PZ_FORBID}), breaks="uses a forbidden phrase",
                                 expect=[E("forbidden_phrases", "breach", 9, "不清楚")]),
        "forbidden_phrase_reworded": dict(turns=edit(PZ_RE, {9: PZ_FORBID}), twin_of="forbidden_phrase",
                                          breaks="uses a forbidden phrase",
                                          expect=[E("forbidden_phrases", "breach", 9, "不清楚")]),
        "no_empathy": dict(turns=edit(PZ, {5: "王先生，请问具体是什么情况呢？"}), breaks="fixes without empathy",
                           expect=[E("empathy_first", "empathy_before_fix", 11, "加急重发"),
                                   E("acknowledge", "empathy", 3, "为了保障您的信息安全")]),
        "never_solves": dict(turns=edit(PZ, {
            11: "感谢您的耐心等待。这种情况确实让人着急，我们已经把情况记录下来了。",
            12: "记录有什么用？我要的是快递明天能到！",
            14: "你这不是什么都没解决吗？"}), breaks="empathises but never solves",
            expect=[E("goal", "goal_met", 15, "感谢您的来电，祝您生活愉快，再见。")]),
        "interrupts": dict(turns=edit(PZ, {6: "物流信息三天前就停在杭州中转站了，一直没动。前天我打过电话，你们客服说"}),
                           interrupt_at=7, breaks="interrupts the customer",
                           expect=[E("interruptions", "interruptions", 7, "您的意思是快件在杭州中转站停了三天")]),
        "never_closes": dict(turns=edit(PZ, {15: "好的，那就这样。", 16: "……喂？"}), breaks="never closes",
                             expect=[E("closing", "required_act", 15, "好的，那就这样。")]),
        "leaks_account": dict(turns=edit(PZ, {
            3: "王先生您好，系统显示您的收货地址是上海市徐汇区漕溪北路88号，快件就是寄到这里的。",
            4: "对，就是这个地址，你赶紧给我查。"}), breaks="gives account details before verifying (blocker)",
            expect=[E("leak_account", "leak_account", 3, "您的收货地址是", blocker=True)]),
    },
}

# ---------------------------------------------------------------------------------------------- parcel, en
PE = [
    (C, "Hello? Where on earth is my parcel? It's three days late!"),
    (A, "Good morning, thank you for calling SwiftPost, my name is Sam, agent ID 3021. How can I help you today?"),
    (C, "My parcel was supposed to arrive three days ago. Your colleague promised me next-day delivery and it still hasn't come, and nobody has called me!"),
    (A, "For security purposes, could you please confirm your full name and the last four digits of your phone number?"),
    (C, "James Walker, and it ends in 5678. Now can you please find out what's going on?"),
    (A, "Thank you, Mr Walker. I'm so sorry, I completely understand how frustrating this must be. Could you tell me what happened with the tracking?"),
    (C, "The tracking has been stuck at the Hangzhou hub for three days. I called the day before yesterday and was promised it would arrive the next day. It's my daughter's birthday present and her birthday is the day after tomorrow."),
    (A, "So just to confirm, the parcel has been stuck at the Hangzhou hub for three days and you were promised next-day delivery, is that right?"),
    (C, "Yes, exactly. So what are you going to do about it this time?"),
    (A, "Let me check that for you. May I put you on a brief hold?"),
    (C, "Fine, but please be quick about it."),
    (A, "Thank you for holding. I'll arrange a free express reship today so it arrives by noon tomorrow. How does that sound?"),
    (C, "Okay, that works. But it had better arrive tomorrow this time."),
    (A, "Is there anything else I can help you with today?"),
    (C, "No, that's all for now."),
    (A, "Thank you for calling SwiftPost. Have a lovely day, goodbye."),
    (C, "Bye."),
]
PE_RE = edit(PE, {
    1: "Good morning, you've reached SwiftPost, my name is Sam, agent ID 3021. How may I help you today?",
    3: "For security reasons, could you confirm your full name and the last four digits of your phone number, please?",
    5: "Thanks, Mr Walker. I'm really sorry about this, and I completely understand how stressful this must be. Could you tell me what happened with the tracking?",
    7: "Just to make sure I have this right: the parcel has been stuck at the Hangzhou hub for three days after you were promised next-day delivery. Is that correct?",
    9: "I'd like to look into that for you. May I place you on a short hold?",
    11: "Thanks for waiting. I'll arrange a free express reship today, so it arrives by noon tomorrow. How does that sound?",
    13: "Is there anything else I can help you with?",
    15: "Thank you for calling SwiftPost. Have a great day, goodbye.",
})
PE_NOEMP = "Thank you, Mr Walker. Could you tell me what happened with the tracking?"
PE_NOEMP_RE = "Thanks, Mr Walker. Could you tell me what happened with the tracking?"

PARCEL_EN = {
    "family": "parcel-en", "scenario": "parcel-late-angry", "language": "en", "direction": "inbound",
    "kind": "inbound_complaint", "timed": True, "format": "json",
    "variants": {
        "exemplary": dict(turns=PE, breaks=None, expect=[]),
        "exemplary_reworded": dict(turns=PE_RE, twin_of="exemplary", breaks=None, expect=[]),
        "skips_verification": dict(turns=edit(PE, {5: "I'm so sorry, I completely understand how frustrating this must be. Could you tell me what happened with the tracking?"}, delete=(3, 4)),
                                   breaks="skips verification",
                                   expect=[E("verification", "verification", 9, "express reship")]),
        "forbidden_phrase": dict(turns=edit(PE, {9: "That's not my department, but let me check. May I put you on a brief hold?"}),
                                 breaks="uses a forbidden phrase",
                                 expect=[E("forbidden_phrases", "breach", 9, "not my department")]),
        "no_empathy": dict(turns=edit(PE, {5: PE_NOEMP}), breaks="fixes without empathy",
                           expect=[E("empathy_first", "empathy_before_fix", 11, "express reship"),
                                   E("acknowledge", "empathy", 3, "For security purposes")]),
        "no_empathy_reworded": dict(turns=edit(PE_RE, {5: PE_NOEMP_RE}), twin_of="no_empathy",
                                    breaks="fixes without empathy",
                                    expect=[E("empathy_first", "empathy_before_fix", 11, "express reship")]),
        "never_solves": dict(turns=edit(PE, {
            11: "Thank you for holding. I can hear how upsetting this is, and I have made a note of everything on your file.",
            12: "A note? That doesn't get my parcel here!",
            14: "You haven't actually done anything."}), breaks="empathises but never solves",
            expect=[E("goal", "goal_met", 15, "Thank you for calling SwiftPost.")]),
        "interrupts": dict(turns=edit(PE, {6: "The tracking has been stuck at the Hangzhou hub for three days. I called the day before yesterday and"}),
                           interrupt_at=7, breaks="interrupts the customer",
                           expect=[E("interruptions", "interruptions", 7, "So just to confirm")]),
        "never_closes": dict(turns=edit(PE, {15: "Okay.", 16: "...Hello?"}), breaks="never closes",
                             expect=[E("closing", "required_act", 15, "Okay.")]),
        "abuses_customer": dict(turns=edit(PE, {9: "Look, you idiot, I'm trying to help. May I put you on a brief hold?"}),
                                breaks="insults the customer (blocker)",
                                expect=[E("abuse", "abuse", 9, "idiot", blocker=True)]),
    },
}

# ---------------------------------------------------------------------------------------------- broadband sales, zh
BZ = [
    (C, "喂，你好，哪位？"),
    (A, "您好，我是蓝海宽带的客户经理小李，工号5012，今天来电是想给您介绍一项老用户提速优惠。"),
    (C, "又是推销啊？你们上周刚打过电话，烦死了，我一会儿还得做饭。"),
    (A, "实在抱歉打扰您了，我理解您时间紧。为了保障您的账户安全，想先跟您确认一下，请问您是机主本人吗？"),
    (C, "对，我是陈雪梅，宽带是我名字办的。"),
    (A, "陈女士，想了解一下，您家里平时几个人用网？晚上用网的情况怎么样？"),
    (C, "家里三口人，儿子每天晚上上网课，我老公还爱打游戏，一到晚上八九点就卡得不行。"),
    (A, "孩子上网课的时候网卡，这种情况确实让人着急。您的意思是晚上八九点大家同时用网的时候特别卡，对吗？"),
    (C, "对，就是晚上卡，白天还行。"),
    (A, "针对这种情况，我推荐您升级千兆宽带，老用户升级价99元一个月，晚高峰多台设备同时用也不卡。"),
    (C, "每个月又要多掏钱，现在什么都涨，我不太想再加开支。"),
    (A, "我理解您的顾虑。其实每个月只多20块，每天不到七毛钱，还免费更换千兆光猫和路由器。"),
    (C, "是不是还得签两年合约？到时候想退都退不了。"),
    (A, "不需要签合约，随时可以改回原套餐，也没有违约金。"),
    (C, "哦，这样啊，那行吧，千兆就先给我办上，师傅来之前提前打个电话。"),
    (A, "好的，已经为您登记办理，工程师会在48小时内上门安装，上门前会提前给您打电话。这个安排您看可以吗？"),
    (C, "可以，没问题。"),
    (A, "请问还有其他需要帮您的吗？"),
    (C, "没有了，谢谢你啊。"),
    (A, "感谢您的接听，祝您生活愉快，再见。"),
    (C, "好，拜拜。"),
]
BZ_RE = edit(BZ, {
    1: "您好，我是蓝海宽带的客户经理小李，工号5012，这次给您打电话是想介绍一个老用户专享的提速优惠。",
    3: "真是不好意思打扰您了，我明白您很忙。为了保障您的账户安全，先跟您确认一下，请问您是机主本人吗？",
    5: "陈女士，我想了解一下，您家里平时有几个人用网？晚上用网的情况怎么样？",
    7: "孩子上网课卡顿，这种情况确实挺让人着急的。也就是说，晚上八九点大家同时用网的时候会特别卡，是吧？",
    9: "那我推荐您升级千兆宽带，老用户升级价是99元一个月，晚高峰多台设备同时用也不卡。",
    11: "我明白您的顾虑。其实每个月只多20块，每天不到七毛钱，而且免费更换千兆光猫和路由器。",
    13: "不需要签任何合约，随时都可以改回原套餐，也没有违约金。",
    15: "好的，已经为您登记办理，工程师会在48小时内上门安装，上门前提前联系您。这个安排您看可以吗？",
    17: "请问还有其他可以帮您的吗？",
    19: "感谢您的接听，祝您生活愉快，再见。",
})
BZ_SOLVELESS = {
    9: "这种情况确实挺影响使用的，我先把您的情况记录下来，后续有合适的活动再联系您。",
    10: "行吧，那就这样吧。",
    11: "请问还有其他需要帮您的吗？",
    12: "没有了。",
    13: "感谢您的接听，祝您生活愉快，再见。",
    14: "拜拜。",
}

BROADBAND_ZH = {
    "family": "broadband-sales-zh", "scenario": "broadband-upgrade-sales", "language": "zh", "direction": "outbound",
    "kind": "outbound_sales", "timed": False, "format": "json",
    "variants": {
        "exemplary": dict(turns=BZ, breaks=None, expect=[]),
        "exemplary_reworded": dict(turns=BZ_RE, twin_of="exemplary", breaks=None, expect=[]),
        "skips_verification": dict(turns=edit(BZ, {5: "您好，想了解一下，您家里平时几个人用网？晚上用网的情况怎么样？"}, delete=(3, 4)),
                                   breaks="skips verification",
                                   expect=[E("verification", "verification", 7, "千兆")]),
        "forbidden_phrase": dict(turns=edit(BZ, {15: "好的，已经为您登记办理。师傅具体哪天上门我不清楚，一般48小时内会联系您。这个安排您看可以吗？"}),
                                 breaks="uses a forbidden phrase",
                                 expect=[E("forbidden_phrases", "breach", 15, "不清楚")]),
        "no_empathy": dict(turns=edit(BZ, {
            3: "为了保障您的账户安全，想先跟您确认一下，请问您是机主本人吗？",
            7: "您的意思是晚上八九点大家同时用网的时候特别卡，对吗？",
            11: "其实每个月只多20块，每天不到七毛钱，还免费更换千兆光猫和路由器。"}),
            breaks="fixes without empathy",
            expect=[E("empathy_first", "empathy_before_fix", 9, "千兆"),
                    E("acknowledge", "empathy", 3, "为了保障您的账户安全")]),
        "never_solves": dict(turns=edit(BZ, BZ_SOLVELESS, delete=tuple(range(15, 21))),
                             breaks="empathises but never solves",
                             expect=[E("goal", "goal_met", 13, "感谢您的接听，祝您生活愉快，再见。")]),
        "never_solves_reworded": dict(turns=edit(BZ_RE, BZ_SOLVELESS, delete=tuple(range(15, 21))),
                                      twin_of="never_solves", breaks="empathises but never solves",
                                      expect=[E("goal", "goal_met", 13, "感谢您的接听")]),
        "interrupts": dict(turns=edit(BZ, {6: "家里三口人，儿子每天晚上上网课，我老公还爱打游戏，一到晚上"}), cut_before=7,
                           breaks="interrupts the customer",
                           expect=[E("interruptions", "interruptions", 7, "孩子上网课的时候网卡")]),
        "never_closes": dict(turns=edit(BZ, {19: "好的。", 20: "……喂？"}), breaks="never closes",
                             expect=[E("closing", "required_act", 19, "好的。")]),
        "leaks_account": dict(turns=edit(BZ, {
            3: "实在抱歉打扰您了，我理解您时间紧。我这边看到您当前的套餐是200兆，每个月79元，已经用了快三年了。",
            4: "对，是200兆的，怎么了？"}), breaks="gives account details before verifying (blocker)",
            expect=[E("leak_account", "leak_account", 3, "您当前的套餐", blocker=True)]),
    },
}

# ---------------------------------------------------------------------------------------------- plan upgrade, en (no scenario)
UE = [
    (A, "Good afternoon, this is Emma calling from Northwind Mobile, agent ID 4417. Is this a good time for a quick chat?"),
    (C, "I've got a minute. What's this about? I'm a bit busy at the moment."),
    (A, "Thanks, Mr Lee. Before we talk about your account, for security purposes could you please confirm your date of birth?"),
    (C, "Fourteenth of March, nineteen eighty-five."),
    (A, "Thank you, that's all verified. I'm calling because you've been with us for three years and you qualify for a loyalty upgrade. Could you tell me how you mainly use your phone at the moment?"),
    (C, "Mostly streaming on the train and long video calls with my family abroad. I keep running out of data by the third week of the month and have to buy top-ups, it's really annoying."),
    (A, "That sounds really frustrating, especially when you need to stay in touch with family. So just to confirm, you run out of data before the end of the month because of streaming and video calls, is that right?"),
    (C, "Yes, exactly, that's the problem."),
    (A, "I'd recommend our Unlimited Plus plan: unlimited data and international calls for just five pounds more per month than you pay now."),
    (C, "Hmm, five pounds more is still more money every month. I'm not sure it's worth it for me."),
    (A, "I understand your concern. Because you're currently buying extra data top-ups most months, the upgrade would actually work out cheaper overall."),
    (C, "Oh, I hadn't thought of it that way. Is there a contract, though? I don't want to be tied in."),
    (A, "There's no new contract: the plan is rolling monthly, so you can switch back at any time without a fee."),
    (C, "Okay, that sounds good. Let's do it."),
    (A, "Great, I'll switch you to Unlimited Plus today and it will be active within 24 hours; you'll get a text to confirm. Are you happy with that?"),
    (C, "Yes, that's great, thanks."),
    (A, "Is there anything else I can help you with today?"),
    (C, "No, that's everything."),
    (A, "Thank you for your time, Mr Lee. Have a great evening, goodbye."),
    (C, "Bye."),
]
UE_RE = edit(UE, {
    0: "Good afternoon, this is Emma calling from Northwind Mobile, agent ID 4417. Is now a good time for a quick chat?",
    2: "Thank you, Mr Lee. Before we discuss your account, for security purposes could you confirm your date of birth, please?",
    4: "Thanks, that's all verified. The reason for my call is that you've been with us for three years and qualify for a loyalty upgrade. Could you tell me how you mainly use your phone these days?",
    6: "That must be really frustrating, especially when you need to keep in touch with family. Just to confirm, you run out of data before the month ends because of the streaming and video calls, is that right?",
    8: "I'd recommend our Unlimited Plus plan: it gives you unlimited data and international calls for only five pounds more per month than you pay now.",
    10: "I completely understand your concern. Because you're buying extra data top-ups most months, the upgrade would actually work out cheaper overall.",
    12: "There's no new contract: the plan runs month to month, so you can switch back at any time without a fee.",
    14: "Great, I'll switch you to Unlimited Plus today and it will be active within 24 hours; you'll receive a text to confirm. Are you happy with that?",
    16: "Is there anything else I can help you with?",
    18: "Thank you for your time, Mr Lee. Have a lovely evening, goodbye.",
})
UE_WHATEVER = "Whatever, there's no new contract: the plan is rolling monthly, so you can switch back at any time without a fee."

UPGRADE_EN = {
    "family": "plan-upgrade-en", "scenario": None, "language": "en", "direction": "outbound",
    "kind": "outbound_sales", "timed": True, "format": "json",
    "variants": {
        "exemplary": dict(turns=UE, breaks=None, expect=[]),
        "exemplary_reworded": dict(turns=UE_RE, twin_of="exemplary", breaks=None, expect=[]),
        "skips_verification": dict(turns=edit(UE, {4: "I'm calling because you've been with us for three years and you qualify for a loyalty upgrade. Could you tell me how you mainly use your phone at the moment?"}, delete=(2, 3)),
                                   breaks="skips verification",
                                   expect=[E("verification", "verification", 6, "I'd recommend")]),
        "forbidden_phrase": dict(turns=edit(UE, {12: UE_WHATEVER}), breaks="uses a forbidden phrase",
                                 expect=[E("forbidden_phrases", "breach", 12, "Whatever")]),
        "forbidden_phrase_reworded": dict(turns=edit(UE_RE, {12: UE_WHATEVER}), twin_of="forbidden_phrase",
                                          breaks="uses a forbidden phrase",
                                          expect=[E("forbidden_phrases", "breach", 12, "Whatever")]),
        "no_empathy": dict(turns=edit(UE, {
            6: "So just to confirm, you run out of data before the end of the month because of streaming and video calls, is that right?",
            10: "Because you're currently buying extra data top-ups most months, the upgrade would actually work out cheaper overall."}),
            breaks="fixes without empathy",
            expect=[E("empathy_first", "empathy_before_fix", 8, "I'd recommend"),
                    E("acknowledge", "empathy", 6, "So just to confirm")]),
        "never_solves": dict(turns=edit(UE, {
            8: "I completely understand how frustrating that is. I have made a note on your account, and somebody may look at it at some point.",
            9: "So is there anything you can actually do for me?",
            10: "I understand, and thank you for your patience with this.",
            11: "Right. I'm not sure why you called me then.",
            12: "I appreciate your time today.",
            13: "Hmm.",
            14: "Is there anything else I can help you with today?",
            15: "No. Honestly that was a waste of time, it's just annoying.",
            16: "Thank you for your time, Mr Lee. Have a great evening, goodbye.",
            17: "Bye."}, delete=(18, 19)), breaks="empathises but never solves",
            expect=[E("goal", "goal_met", 16, "Thank you for your time, Mr Lee.")]),
        "interrupts": dict(turns=edit(UE, {5: "Mostly streaming on the train and long video calls with my family abroad. I keep running out of data by the"}),
                           interrupt_at=6, breaks="interrupts the customer",
                           expect=[E("interruptions", "interruptions", 6, "That sounds really frustrating")]),
        "never_closes": dict(turns=edit(UE, {18: "Okay then.", 19: "...Hello?"}), breaks="never closes",
                             expect=[E("closing", "required_act", 18, "Okay then.")]),
        "abuses_customer": dict(turns=edit(UE, {10: "Oh come on, don't be stupid. Because you're currently buying extra data top-ups most months, the upgrade would actually work out cheaper overall."}),
                                breaks="insults the customer (blocker)",
                                expect=[E("abuse", "abuse", 10, "stupid", blocker=True)]),
    },
}

# ---------------------------------------------------------------------------------------------- bill complaint, zh (no scenario, text format)
BC = [
    (A, "您好，畅联移动客服中心，工号2087，很高兴为您服务，请问有什么可以帮您？"),
    (C, "我这个月话费怎么扣了三百多？平时才一百出头，你们是不是乱扣费？太过分了！"),
    (A, "为了保障您的账户安全，请您提供一下机主姓名和身份证后四位。"),
    (C, "李娜，身份证后四位0321。"),
    (A, "李女士，非常抱歉，我完全理解您现在生气的心情，话费突然多了这么多，换谁都会着急。请问您这个月有没有出差或者办理过什么新业务？"),
    (C, "上个月去香港出差了几天，但是我专门买了漫游日包的，怎么还扣这么多？"),
    (A, "您的意思是您出差前已经订购了漫游日包，但这个月还是被多收了漫游流量费，对吗？"),
    (C, "对，就是这样。"),
    (A, "需要为您查询一下账单明细，请您稍等一两分钟，可以吗？"),
    (C, "好，你查吧。"),
    (A, "感谢您的耐心等待。经过核实，确实是系统计费异常，我马上为您申请退还多收的费用，3到5个工作日内退回您的话费账户，到账后会短信通知您。您看这样处理可以吗？"),
    (C, "好的，那就这样吧，谢谢你。"),
    (A, "请问还有其他可以帮您的吗？"),
    (C, "没有了。"),
    (A, "感谢您的来电，祝您生活愉快，再见。"),
    (C, "再见。"),
]
BC_RE = edit(BC, {
    0: "您好，这里是畅联移动客服中心，工号2087，很高兴为您服务，请问有什么可以帮您？",
    2: "为了保护您的账户安全，麻烦您提供一下机主姓名和身份证后四位。",
    4: "李女士，真是对不起，您的心情我完全能理解，话费突然多了这么多，换谁都会着急。请问您这个月是否出过差或者办过什么新业务？",
    6: "也就是说，您出差前已经订购了漫游日包，但这个月还是被多收了漫游流量费，是这样吗？",
    8: "我需要为您查询一下账单明细，请您稍等一两分钟，好吗？",
    10: "谢谢您的耐心等候。经过核实，确实是系统计费异常，我现在就为您申请退还多收的费用，3到5个工作日内退回您的话费账户，到账后会短信通知您。您看这样处理可以吗？",
    12: "请问还有其他需要我帮您的吗？",
    14: "感谢您的来电，祝您一切顺利，再见。",
})

BILL_ZH = {
    "family": "bill-complaint-zh", "scenario": None, "language": "zh", "direction": "inbound",
    "kind": "inbound_complaint", "timed": False, "format": "txt",
    "variants": {
        "exemplary": dict(turns=BC, breaks=None, expect=[]),
        "exemplary_reworded": dict(turns=BC_RE, twin_of="exemplary", breaks=None, expect=[]),
        "skips_verification": dict(turns=edit(BC, {4: "非常抱歉，我完全理解您现在生气的心情，话费突然多了这么多，换谁都会着急。请问您这个月有没有出差或者办理过什么新业务？"}, delete=(2, 3)),
                                   breaks="skips verification",
                                   expect=[E("verification", "verification", 8, "为您申请")]),
        "forbidden_phrase": dict(turns=edit(BC, {8: "这个情况我不知道，需要为您查询一下账单明细，请您稍等一两分钟，可以吗？"}),
                                 breaks="uses a forbidden phrase",
                                 expect=[E("forbidden_phrases", "breach", 8, "不知道")]),
        "no_empathy": dict(turns=edit(BC, {4: "李女士，请问您这个月有没有出差或者办理过什么新业务？"}), breaks="fixes without empathy",
                           expect=[E("empathy_first", "empathy_before_fix", 10, "为您申请"),
                                   E("acknowledge", "empathy", 2, "为了保障您的账户安全")]),
        "never_solves": dict(turns=edit(BC, {
            10: "感谢您的耐心等待。这种情况确实让人着急，我们已经把情况记录下来了。",
            11: "记录有什么用？钱什么时候退给我？",
            13: "你这不是什么都没解决吗！"}), breaks="empathises but never solves",
            expect=[E("goal", "goal_met", 14, "感谢您的来电，祝您生活愉快，再见。")]),
        "interrupts": dict(turns=edit(BC, {5: "上个月去香港出差了几天，但是我专门买了"}), cut_before=6,
                           breaks="interrupts the customer",
                           expect=[E("interruptions", "interruptions", 6, "您的意思是您出差前已经订购了漫游日包")]),
        "never_closes": dict(turns=edit(BC, {14: "好的。"}), breaks="never closes",
                             expect=[E("closing", "required_act", 14, "好的。")]),
        "leaks_account": dict(turns=edit(BC, {
            2: "我这边看到您这个月的话费账单是328元，确实比平时高不少。",
            3: "对啊，就是这个数！"}), breaks="gives account details before verifying (blocker)",
            expect=[E("leak_account", "leak_account", 2, "账单", blocker=True)]),
    },
}

FAMILIES = [PARCEL_ZH, PARCEL_EN, BROADBAND_ZH, UPGRADE_EN, BILL_ZH]


def build() -> list[Path]:
    written = []
    for fam in FAMILIES:
        d = HERE / fam["family"]
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*"):
            if old.suffix in (".json", ".txt"):
                old.unlink()
        for name, v in fam["variants"].items():
            turns = [{"speaker": sp, "text": tx} for sp, tx in v["turns"]]
            if v.get("cut_before") is not None:
                turns[v["cut_before"] - 1]["interrupted"] = True
            if fam["timed"]:
                turns = timed(turns, fam["language"], v.get("interrupt_at"))
            elif v.get("interrupt_at") is not None:
                turns[v["interrupt_at"] - 1]["interrupted"] = True
            for e in v["expect"]:
                assert e["quote"] in turns[e["turn"]]["text"], (fam["family"], name, e)
                assert turns[e["turn"]]["speaker"] == A, (fam["family"], name, e)
            meta = {"family": fam["family"], "variant": name, "kind": fam["kind"], "breaks": v.get("breaks"),
                    "twin_of": v.get("twin_of"), "expect": v["expect"]}
            if fam["format"] == "json":
                doc = {"language": fam["language"], "scenario": fam["scenario"], "direction": fam["direction"],
                       "trainee": "calibration", "turns": turns, "meta": {"calibration": meta}}
                if doc["scenario"] is None:
                    del doc["scenario"]
                path = d / f"{name}.json"
                path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            else:
                lines = [f"# calibration: {json.dumps(meta, ensure_ascii=False)}", f"direction: {fam['direction']}"]
                if fam["scenario"]:
                    lines.append(f"scenario: {fam['scenario']}")
                for t in turns:
                    prefix = "坐席：" if t["speaker"] == A else "客户："
                    lines.append(prefix + t["text"] + ("[被打断]" if t.get("interrupted") else ""))
                path = d / f"{name}.txt"
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    paths = build()
    print(f"wrote {len(paths)} transcripts")
