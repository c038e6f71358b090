"""Transcript text clean-up (no models)."""

from __future__ import annotations

from server.speech.stt import drop_hallucination, tidy_text


def test_chinese_is_simplified_and_despaced():
    assert tidy_text("你好,這裡是客服中心,請問有什麼可以幫您?", "zh") == "你好，这里是客服中心，请问有什么可以帮您？"
    assert tidy_text("你 好 请问 订单 号", "zh") == "你好请问订单号"  # Vosk Chinese output
    assert tidy_text("  Hello   there ", "en") == "Hello there"
    assert tidy_text("我的订单号是 A123 谢谢", "zh") == "我的订单号是 A123 谢谢"


def test_hallucination_guards():
    assert drop_hallucination("嗯" * 50) == "嗯嗯嗯"
    assert drop_hallucination("字幕由Amara.org社区提供") == ""
    assert drop_hallucination("请不吝点赞 订阅 转发") == ""
    assert drop_hallucination("好的，谢谢您。") == "好的，谢谢您。"
    # real words that appear in credit lines are kept
    assert drop_hallucination("我想取消视频会员的订阅") == "我想取消视频会员的订阅"
    assert drop_hallucination("感谢您的来订阅您生活愉快") == "感谢您的来订阅您生活愉快"
