"""Table-driven tests of the message parser (handlers.parse) with the demo categories."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.commands import (
    USAGE_KEYS,
    Approve,
    Assign,
    Cancel,
    Claim,
    Complete,
    Dispatch,
    Help,
    Malformed,
    MyOrders,
    Need,
    OpenOrders,
    PostNeed,
    ProxyPost,
    Ranking,
    Rate,
    Redispatch,
    Register,
    Release,
    Show,
    Suspend,
    Tally,
)
from handlers.parse import (
    CategorySpec,
    extract_need,
    mask_phone,
    mask_text,
    normalize,
    order_no_in_quote,
    parse_message,
    parse_order_no,
    redact_need_text,
)

CATEGORIES = (
    CategorySpec("搬家配送", ("搬家", "搬运", "搬东西", "送货", "配送", "拉货", "跑腿", "搬")),
    CategorySpec("家电水电维修", (
        "水管", "漏水", "水龙头", "电路", "跳闸", "插座", "灯", "灯泡", "空调", "热水器", "马桶",
        "洗衣机", "冰箱", "修电", "水电")),
    CategorySpec("家政护工保洁", ("保洁", "打扫", "清洁", "护工", "保姆", "陪护", "做饭", "擦玻璃", "家政")),
    CategorySpec("开锁换锁", ("开锁", "换锁", "锁芯", "钥匙")),
    CategorySpec("管道疏通", ("疏通", "下水道", "堵了", "堵塞", "化粪池")),
    CategorySpec("家具安装", ("安装", "组装", "家具", "柜子", "床", "窗帘")),
    CategorySpec("陪诊代办", ("陪诊", "挂号", "陪同就医", "代办", "取药")),
)
CARD = "【派单 #12】家电水电维修 阳光小区3栋 明天上午 报酬100元\n回复 接12 接单"


@dataclass(frozen=True)
class NeedIs:
    """Expected intake: the command type, the category and (for PostNeed) explicit."""

    kind: type
    category: str | None
    explicit: bool | None = None


def need(category: str | None) -> NeedIs:
    return NeedIs(PostNeed, category, False)


def explicit(category: str | None) -> NeedIs:
    return NeedIs(PostNeed, category, True)


def proxy(category: str | None) -> NeedIs:
    return NeedIs(ProxyPost, category)


# (id, message, expected[, quote])
CASES = [
    # --- implicit needs, one group per demo category ---
    ("move-weekend", "有没有搬家的师傅，周六上午从老城搬到新蒲，东西不多，300块", need("搬家配送")),
    ("move-haul", "哪位师傅有空帮我拉货，从丁字口拉到海尔大道", need("搬家配送")),
    ("move-errand", "麻烦哪个帮我跑腿去超市买点米送上来", need("搬家配送")),
    ("move-stairs", "想找两个人帮忙搬东西上六楼 没有电梯", need("搬家配送")),
    ("repair-who-can", "谁会修空调", need("家电水电维修")),
    ("repair-tap", "师傅你好，我家厨房水龙头一直滴水，能不能来看一下，我住凤凰山小区2栋", need("家电水电维修")),
    ("repair-trip", "家里跳闸了灯都不亮，麻烦电工师傅来看看 13985261234", need("家电水电维修")),
    ("repair-water-heater", "热水器不出热水了 有没有师傅会修", need("家电水电维修")),
    ("repair-washer", "请问哪位会修洗衣机，不脱水了", need("家电水电维修")),
    ("repair-leak-urgent", "卫生间漏水漏到楼下了，急！", need("家电水电维修")),
    ("repair-burst-pipe", "水管爆了！！！快来人啊", need("家电水电维修")),
    ("repair-hello-group", "大家好，有没有会修空调的", need("家电水电维修")),
    ("clean-carer", "我妈住院需要找个护工陪护几天，价格好商量", need("家政护工保洁")),
    ("clean-cleaner", "需要一个保洁阿姨打扫卫生 两室一厅 明天上午 200块", need("家政护工保洁")),
    ("clean-nanny", "想请个保姆做饭，一天两顿", need("家政护工保洁")),
    ("clean-windows", "过年前想找人擦玻璃", need("家政护工保洁")),
    ("lock-key-inside", "钥匙锁家里了，进不去，急！！", need("开锁换锁")),
    ("lock-cylinder", "请问哪位师傅会换锁芯", need("开锁换锁")),
    ("lock-open", "麻烦来个开锁的师傅，阳光小区5栋", need("开锁换锁")),
    ("drain-kitchen", "厨房下水道堵了好几天了，谁能来疏通一下", need("管道疏通")),
    ("drain-toilet", "马桶堵了 麻烦来个师傅通一下", need("管道疏通")),
    ("drain-septic", "我们这栋化粪池满了，需要人处理", need("管道疏通")),
    ("furniture-cabinet", "新买的柜子需要人组装，有没有师傅", need("家具安装")),
    ("furniture-curtain", "明天下午三点能不能来个师傅帮我装一下窗帘 丁字口小区5幢", need("家具安装")),
    ("furniture-bed", "想找人安装一下床，网上买的", need("家具安装")),
    ("escort-clinic", "老伴腿脚不便，想找人陪同就医，周三上午去市一医", need("陪诊代办")),
    ("escort-medicine", "麻烦哪位帮忙去医院取药，我走不动", need("陪诊代办")),
    ("escort-errand", "有没有人帮忙代办老年证", need("陪诊代办")),
    # --- explicit intake ---
    ("explicit-full", "发单 阳光小区3栋2单元501室水管漏水，电话13812345678，明天上午来，200元",
     explicit("家电水电维修")),
    ("explicit-hash", "#发单 周日搬家，从洗马路12号搬到新蒲", explicit("搬家配送")),
    ("explicit-fullwidth", "＃发单　换锁芯　１３８００００１２３４", explicit("开锁换锁")),
    ("explicit-bracket", "【需求】家里马桶堵了", explicit("管道疏通")),
    ("explicit-help-colon", "求助：我妈妈明天要去医院挂号，需要人陪诊", explicit("陪诊代办")),
    ("explicit-help-ascii", "求助:家里停电了", explicit(None)),
    ("explicit-help-bang", "求助！楼道灯坏了好几天", explicit("家电水电维修")),
    ("explicit-need-colon", "需求：找人打扫卫生", explicit("家政护工保洁")),
    ("explicit-multiline", "发单\n地址：阳光小区3栋\n需求：换水龙头\n电话：13812345678", explicit("家电水电维修")),
    ("explicit-empty", "发单", Malformed("发单", "post")),
    ("explicit-empty-bracket", "【需求】", Malformed("发单", "post")),
    ("explicit-empty-help", "求助：", Malformed("发单", "post")),
    ("proxy", "代发单 张阿姨家住洗马路12号，灯泡坏了，电话0851-28888888", proxy("家电水电维修")),
    ("proxy-colon", "代发单：李大爷 独居 明天要去医院取药 电话13985261234", proxy("陪诊代办")),
    ("proxy-empty", "代发单", Malformed("代发单", "proxy")),
    # --- chit-chat and messages with only an intent word or only a keyword ---
    ("chat-thanks", "谢谢师傅", None),
    ("chat-thanks-fixed", "谢谢熊师傅帮忙修好了空调", None),
    ("chat-notice", "通知：明天停水", None),
    ("chat-notice-bracket", "【通知】明天上午9点到下午5点停水，请大家提前储水", None),
    ("chat-notice-everyone", "各位居民请注意，今晚8点电路检修", None),
    ("chat-greeting", "大家早上好", None),
    ("chat-weather", "今天天气真好", None),
    ("chat-ok", "好的", None),
    ("chat-emoji", "[微笑][微笑]", None),
    ("chat-keyword-only", "我家空调坏了", None),
    ("chat-intent-only", "接孩子放学需要人帮忙", None),
    ("chat-who-claims", "有没有人接12", None),
    ("chat-who-claims-keyword", "有没有人接12号单，搬家的", None),
    ("chat-advert", "本人专业开锁换锁，有需要的联系我", None),
    ("chat-for-sale", "出售二手冰箱，需要的联系", None),
    ("chat-no-longer", "空调不需要修了，谢谢", None),
    ("chat-dispatched", "我已经派单了", None),
    ("chat-dispatch-question", "派单了吗", None),
    ("chat-cancel-sentence", "取消吧", None),
    ("chat-approve-sentence", "通过了吗", None),
    ("chat-register-sentence", "登记一下", None),
    ("chat-show-sentence", "查一下明天天气", None),
    ("chat-pick-up-child", "我接孩子去了", None),
    ("chat-claim-question", "接12吗", None),
    ("chat-claim-long", "接12，我下午有事要晚点到可以吗", None),
    ("chat-done-no-quote", "做完了", None),
    ("chat-number", "12", None),
    ("chat-blank", "   ", None),
    # --- dispatch ---
    ("dispatch", "派单 12", Dispatch(12)),
    ("dispatch-hash", "派单#12", Dispatch(12)),
    ("dispatch-zeros", "派单 #0012", Dispatch(12)),
    ("dispatch-reward-note", "派单 12 报酬100元 备注 自带工具", Dispatch(12, "100元", "自带工具")),
    ("dispatch-reward-colon", "派单12 报酬：100元", Dispatch(12, "100元")),
    ("dispatch-fullwidth", "派单　１２　报酬１５０元", Dispatch(12, "150元")),
    ("dispatch-note-colon", "派单12号 备注：老人独居，进门请换鞋", Dispatch(12, None, "老人独居,进门请换鞋")),
    ("dispatch-negotiable", "派单 12 报酬面议", Dispatch(12, "面议")),
    ("dispatch-missing", "派单", Malformed("派单", "dispatch")),
    ("dispatch-letters", "派单 abc", Malformed("派单", "dispatch", "abc")),
    ("dispatch-huge", "派单 12345678901", Malformed("派单", "dispatch", "12345678901")),
    # --- assign / redispatch / cancel ---
    ("assign-mention", "指派 12 @熊师傅\u2005", Assign(12, "熊师傅")),
    ("assign-name", "指派12 熊明祥", Assign(12, "熊明祥")),
    ("assign-to", "指派12号给熊明祥", Assign(12, "熊明祥")),
    ("assign-reversed", "指派 @熊师傅 12", Assign(12, "熊师傅")),
    ("assign-no-worker", "指派12", Malformed("指派", "assign", "12")),
    ("assign-no-number", "指派 @熊师傅", Malformed("指派", "assign", "@熊师傅")),
    ("assign-empty", "指派", Malformed("指派", "assign")),
    ("redispatch", "改派 12", Redispatch(12)),
    ("redispatch-hash", "改派#12", Redispatch(12)),
    ("redispatch-empty", "改派", Malformed("改派", "redispatch")),
    ("cancel-reason", "取消 12 原因：居民说不需要了", Cancel(12, "居民说不需要了")),
    ("cancel-plain", "取消12", Cancel(12)),
    ("cancel-inline-reason", "取消#12 居民自己找到人了", Cancel(12, "居民自己找到人了")),
    ("cancel-order-word", "取消订单12", Cancel(12)),
    ("cancel-empty", "取消", Malformed("取消", "cancel")),
    ("cancel-letters", "取消 xx", Malformed("取消", "cancel", "xx")),
    # --- claim ---
    ("claim", "接12", Claim(12)),
    ("claim-order", "接单12", Claim(12)),
    ("claim-hash", "接单 #12", Claim(12)),
    ("claim-suffix", "12接", Claim(12)),
    ("claim-grab", "抢12", Claim(12)),
    ("claim-me", "我接12", Claim(12)),
    ("claim-space", "接 12", Claim(12)),
    ("claim-suffix-me", "12我接", Claim(12)),
    ("claim-hao", "接12号", Claim(12)),
    ("claim-fullwidth", "接单１２", Claim(12)),
    ("claim-fullwidth-hash", "接＃１２", Claim(12)),
    ("claim-polite", "接12，马上到", Claim(12)),
    ("claim-master", "接12 师傅", Claim(12)),
    ("claim-le", "12号我接了！", Claim(12)),
    ("claim-wechat-emoji", "接12[抱拳]", Claim(12)),
    ("claim-chinese-number", "接十二号", Claim(12)),
    ("claim-mention", "@零工助手\u2005接12", Claim(12)),
    ("claim-bare", "接", Claim(None)),
    ("claim-bare-order", "接单", Claim(None)),
    ("claim-bare-me", "我接", Claim(None)),
    ("claim-bare-me-order", "我接单", Claim(None)),
    ("claim-bare-grab", "抢", Claim(None)),
    ("claim-bare-le", "接了", Claim(None)),
    ("claim-bare-quote", "接", Claim(12), CARD),
    ("claim-bare-quote-zeros", "我接了", Claim(12), "订单#0012 搬家配送"),
    ("claim-number-beats-quote", "接13", Claim(13), CARD),
    ("claim-letters", "接abc", Malformed("接单", "claim", "abc")),
    ("claim-order-letters", "接单 xx", Malformed("接单", "claim", "xx")),
    ("claim-huge", "接99999999999", Malformed("接单", "claim", "99999999999")),
    # --- complete / release ---
    ("complete", "完成12", Complete(12)),
    ("complete-suffix", "12完成", Complete(12)),
    ("complete-already", "已完成12", Complete(12)),
    ("complete-suffix-already", "12已完成", Complete(12)),
    ("complete-hash", "完成 #12", Complete(12)),
    ("complete-done", "做完了12", Complete(12)),
    ("complete-thanks", "12号已完成，谢谢", Complete(12)),
    ("complete-bare", "完成", Malformed("完成", "complete")),
    ("complete-bare-quote", "完成了", Complete(12), CARD),
    ("complete-done-quote", "做完了", Complete(12), CARD),
    ("complete-letters", "完成abc", Malformed("完成", "complete", "abc")),
    ("release", "放弃12", Release(12)),
    ("release-return", "退单12", Release(12)),
    ("release-suffix", "12退单", Release(12)),
    ("release-bare", "放弃", Malformed("放弃", "release")),
    ("release-bare-quote", "退单", Release(12), CARD),
    # --- rating ---
    ("rate-satisfied", "满意12", Rate(12, 5, True)),
    ("rate-unsatisfied", "不满意12", Rate(12, 1, False)),
    ("rate-very", "非常满意12号", Rate(12, 5, True)),
    ("rate-score", "评价12 5", Rate(12, 5, True)),
    ("rate-score-fen", "评价 12 4分", Rate(12, 4, True)),
    ("rate-score-hash", "评价#12 3", Rate(12, 3, True)),
    ("rate-score-low", "评价12 2分", Rate(12, 2, False)),
    ("rate-score-chinese", "评价12 五星", Rate(12, 5, True)),
    ("rate-comment", "评价12 5分 师傅很专业", Rate(12, 5, True)),
    ("rate-out-of-range", "评价12 6", Malformed("评价", "rate", "6")),
    ("rate-zero", "评价12 0分", Malformed("评价", "rate", "0")),
    ("rate-missing", "评价12", Malformed("评价", "rate")),
    ("rate-empty", "评价", Malformed("评价", "rate")),
    ("rate-bare-quote", "满意", Rate(12, 5, True), CARD),
    ("rate-bare", "满意", Malformed("满意", "rate")),
    # --- queries ---
    ("help", "帮助", Help()),
    ("help-menu", "菜单", Help()),
    ("help-en", "help", Help()),
    ("help-en-upper", "HELP", Help()),
    ("help-question", "?", Help()),
    ("help-question-fullwidth", "？", Help()),
    ("show", "查12", Show(12)),
    ("show-order", "订单12", Show(12)),
    ("show-query", "查询12", Show(12)),
    ("show-hash", "查 #12", Show(12)),
    ("show-progress", "查12号单进度", Show(12)),
    ("show-empty", "查", Malformed("查", "show")),
    ("show-letters", "查abc", Malformed("查", "show", "abc")),
    ("open-orders", "待接单", OpenOrders()),
    ("my-orders", "我的订单", MyOrders()),
    ("tally-today", "今日统计", Tally()),
    ("tally", "统计", Tally()),
    ("ranking", "接单王", Ranking("month")),
    ("ranking-board", "排行", Ranking("month")),
    ("ranking-board-full", "排行榜", Ranking("month")),
    ("ranking-week-after", "接单王 本周", Ranking("week")),
    ("ranking-month", "本月排行", Ranking("month")),
    ("ranking-year", "今年接单王", Ranking("year")),
    ("ranking-day", "今日排行", Ranking("day")),
    # --- worker registry ---
    ("register-team-word", "登记 熊明祥 13800000000 水电维修 搬家配送 团队 水电一队",
     Register("熊明祥", "13800000000", ("水电维修", "搬家配送"), "水电一队")),
    ("register-team-colon", "登记 熊明祥 13800000000 水电维修 团队:水电一队",
     Register("熊明祥", "13800000000", ("水电维修",), "水电一队")),
    ("register-no-team", "登记：王德芬，139-8526-1234，家政护工保洁、陪诊代办",
     Register("王德芬", "13985261234", ("家政护工保洁", "陪诊代办"))),
    ("register-fullwidth-phone", "登记 李强 １３８００００５６７８ 开锁换锁",
     Register("李强", "13800005678", ("开锁换锁",))),
    ("register-no-phone", "登记 熊明祥", Malformed("登记", "register")),
    ("register-short-phone", "登记 熊明祥 1380000", Malformed("登记", "register", "1380000")),
    ("register-empty", "登记", Malformed("登记", "register")),
    ("approve", "通过 熊明祥", Approve("熊明祥")),
    ("approve-mention", "通过 @熊明祥", Approve("熊明祥")),
    ("approve-glued", "通过熊明祥", Approve("熊明祥")),
    ("approve-empty", "通过", Malformed("通过", "approve")),
    ("approve-sentence", "通过率很高", None),
    ("suspend", "停用 熊明祥", Suspend("熊明祥")),
    ("suspend-glued", "停用李强", Suspend("李强")),
    ("suspend-empty", "停用", Malformed("停用", "suspend")),
]


def _param(row: tuple) -> object:
    case_id, text, expected, *quote = row
    return pytest.param(text, expected, quote[0] if quote else None, id=case_id)


def test_case_ids_are_unique() -> None:
    ids = [row[0] for row in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 100


@pytest.mark.parametrize(("text", "expected", "quote"), [_param(row) for row in CASES])
def test_parse_message(text: str, expected: object, quote: str | None) -> None:
    result = parse_message(text, CATEGORIES, quote)
    if isinstance(expected, NeedIs):
        assert type(result) is expected.kind, result
        assert result.need.category == expected.category, result
        if expected.kind is PostNeed:
            assert result.explicit is expected.explicit
    else:
        assert result == expected
    if isinstance(result, Malformed):
        assert result.usage in USAGE_KEYS


# --- extract_need --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "category"), [
    pytest.param("马桶堵了", "管道疏通", id="symptom-after-object-wins-tie"),
    pytest.param("厨房下水道堵了", "管道疏通", id="longest-keyword"),
    pytest.param("洗衣机漏水了", "家电水电维修", id="same-category"),
    pytest.param("搬家具", "家具安装", id="longer-beats-single-char"),
    pytest.param("家具搬运", "搬家配送", id="tie-later-keyword"),
    pytest.param("安装空调", "家电水电维修", id="tie-later-keyword-2"),
    pytest.param("楼道灯不亮", "家电水电维修", id="single-char"),
    pytest.param("今天天气不错", None, id="no-keyword"),
])
def test_category(text: str, category: str | None) -> None:
    assert extract_need(text, CATEGORIES).category == category


def test_category_ties_go_to_earlier_category_and_ignore_case() -> None:
    categories = (CategorySpec("网络", ("WiFi", "宽带")), CategorySpec("其他", ("wifi", "")))
    assert extract_need("家里wifi连不上", categories).category == "网络"
    assert extract_need("随便说说", categories).category is None  # an empty keyword never matches


@pytest.mark.parametrize(("text", "phones"), [
    pytest.param("电话13812345678", ("13812345678",), id="mobile"),
    pytest.param("电话138-1234-5678", ("13812345678",), id="dashes"),
    pytest.param("电话 138 1234 5678 谢谢", ("13812345678",), id="spaces"),
    pytest.param("电话：１３８１２３４５６７８", ("13812345678",), id="fullwidth"),
    pytest.param("+86 13812345678", ("13812345678",), id="country-code"),
    pytest.param("座机0851-28888888", ("0851-28888888",), id="landline"),
    pytest.param("座机(0851)28888888", ("0851-28888888",), id="landline-parens"),
    pytest.param("13812345678或13985261234，13812345678", ("13812345678", "13985261234"), id="two-deduped"),
    pytest.param("订单号123456789012", (), id="too-long"),
    pytest.param("12812345678", (), id="not-a-mobile-prefix"),
    pytest.param("报酬200元 3栋501", (), id="no-phone"),
])
def test_phones(text: str, phones: tuple[str, ...]) -> None:
    assert extract_need(text, CATEGORIES).phones == phones


@pytest.mark.parametrize(("text", "address", "coarse"), [
    pytest.param("阳光小区3栋2单元501室水管漏水", "阳光小区3栋2单元501室", "阳光小区3栋", id="full"),
    pytest.param("洗马路12号灯泡坏了", "洗马路12号", "洗马路12号", id="street-number"),
    pytest.param("丁字口小区5幢1单元302", "丁字口小区5幢1单元302", "丁字口小区5幢", id="bare-door"),
    pytest.param("家住凤凰山小区2栋，谁会修空调", "凤凰山小区2栋", "凤凰山小区2栋", id="lead-in-trimmed"),
    pytest.param("我住在碧云花园12号楼3单元", "碧云花园12号楼3单元", "碧云花园12号楼", id="hao-lou"),
    pytest.param("阳光小区3-2-501", "阳光小区3-2-501", "阳光小区3栋", id="dashed"),
    pytest.param("到幸福苑三栋五楼", "幸福苑三栋五楼", "幸福苑三栋", id="chinese-numbers"),
    pytest.param("3栋2单元501漏水", "3栋2单元501", "3栋", id="no-place"),
    pytest.param("501室水管爆了", "501室", None, id="door-only"),
    pytest.param("阳光小区302 电话13812345678", "阳光小区302", "阳光小区", id="door-after-place"),
    pytest.param("3栋 138 1234 5678", "3栋", "3栋", id="phone-is-not-door"),
    pytest.param("我们小区停水了", None, None, id="no-name"),
    pytest.param("谁会修空调", None, None, id="none"),
])
def test_address(text: str, address: str | None, coarse: str | None) -> None:
    result = extract_need(text, CATEGORIES)
    assert (result.address, result.coarse_address) == (address, coarse)


@pytest.mark.parametrize(("text", "wish"), [
    pytest.param("明天上午来", "明天上午", id="day-part"),
    pytest.param("周六下午3点搬家", "周六下午3点", id="weekday-clock"),
    pytest.param("下周一晚上7点半", "下周一晚上7点半", id="next-week"),
    pytest.param("星期三", "星期三", id="xingqi"),
    pytest.param("大后天去医院", "大后天", id="da-hou-tian"),
    pytest.param("15:00以后都在家", "15:00以后", id="clock-after"),
    pytest.param("下午三点前", "下午三点前", id="chinese-clock"),
    pytest.param("周末有空", "周末", id="weekend"),
    pytest.param("尽快，水漫出来了", "尽快", id="asap"),
    pytest.param("马上来", "马上", id="right-away"),
    pytest.param("傍晚", "傍晚", id="dusk"),
    pytest.param("快一点", None, id="not-a-clock"),
    pytest.param("水管漏水", None, id="none"),
])
def test_time_wish(text: str, wish: str | None) -> None:
    assert extract_need(text, CATEGORIES).time_wish == wish


@pytest.mark.parametrize(("text", "budget"), [
    pytest.param("给200元", "200元", id="yuan"),
    pytest.param("200块", "200块", id="kuai"),
    pytest.param("150块钱", "150块", id="kuai-qian"),
    pytest.param("两百元", "两百元", id="chinese"),
    pytest.param("面议", "面议", id="negotiable"),
    pytest.param("价格面议", "面议", id="price-negotiable"),
    pytest.param("价格好商量", "面议", id="negotiable-colloquial"),
    pytest.param("报酬100", "100元", id="labelled-no-unit"),
    pytest.param("报酬：100元", "100元", id="labelled-colon"),
    pytest.param("￥80", "80元", id="yen-sign"),
    pytest.param("找人一块搬", None, id="yikuai-is-together"),
    pytest.param("阳光小区3栋", None, id="none"),
])
def test_budget(text: str, budget: str | None) -> None:
    assert extract_need(text, CATEGORIES).budget == budget


def test_need_text_drops_marker_and_normalizes() -> None:
    result = extract_need("【需求】　家里马桶堵了\u200b", CATEGORIES)
    assert result == Need(text="家里马桶堵了", category="管道疏通")
    assert extract_need("发单：换锁芯", CATEGORIES).text == "换锁芯"
    assert extract_need("代发单 换锁芯", CATEGORIES).text == "换锁芯"
    assert extract_need("谁会修空调", CATEGORIES).text == "谁会修空调"


def test_parsed_need_carries_details() -> None:
    result = parse_message(
        "发单 阳光小区3栋2单元501室水管漏水，电话138-1234-5678，明天上午来，200元", CATEGORIES)
    assert result == PostNeed(Need(
        text="阳光小区3栋2单元501室水管漏水,电话138-1234-5678,明天上午来,200元",
        category="家电水电维修", phones=("13812345678",), address="阳光小区3栋2单元501室",
        coarse_address="阳光小区3栋", time_wish="明天上午", budget="200元"), True)


# --- order numbers -------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "no"), [
    pytest.param("12", 12, id="plain"),
    pytest.param("#12", 12, id="hash"),
    pytest.param("＃12", 12, id="fullwidth-hash"),
    pytest.param("#0012", 12, id="zeros"),
    pytest.param("１２", 12, id="fullwidth-digits"),
    pytest.param("No.12", 12, id="no-dot"),
    pytest.param("no 12", 12, id="no-space"),
    pytest.param(" 12号 ", 12, id="hao"),
    pytest.param("十二", 12, id="chinese"),
    pytest.param("一百零五号", 105, id="chinese-hundreds"),
    pytest.param("1000000000", 10**9, id="limit"),
    pytest.param("1000000001", None, id="above-limit"),
    pytest.param("9" * 5000, None, id="very-long"),
    pytest.param("abc", None, id="letters"),
    pytest.param("", None, id="empty"),
    pytest.param("12a", None, id="trailing-letter"),
    pytest.param("-12", None, id="negative"),
    pytest.param("١٢", None, id="arabic-indic"),
])
def test_parse_order_no(token: str, no: int | None) -> None:
    assert parse_order_no(token) == no


@pytest.mark.parametrize(("quote", "no"), [
    pytest.param(CARD, 12, id="card"),
    pytest.param("【派单 #12】", 12, id="card-title"),
    pytest.param("零工助手: 订单#0012 已派出", 12, id="order-hash"),
    pytest.param("订单 12 待接单", 12, id="order-word"),
    pytest.param("单号：35 电话13812345678", 35, id="label"),
    pytest.param("No.7 搬家", 7, id="no-dot"),
    pytest.param("熊师傅 13812345678", None, id="phone-only"),
    pytest.param("", None, id="empty"),
    pytest.param(None, None, id="none"),
])
def test_order_no_in_quote(quote: str | None, no: int | None) -> None:
    assert order_no_in_quote(quote) == no


# --- masking and redaction -----------------------------------------------------------------

@pytest.mark.parametrize(("phone", "masked"), [
    pytest.param("13812345678", "138****5678", id="mobile"),
    pytest.param("138-1234-5678", "138****5678", id="dashes"),
    pytest.param("0851-28888888", "0851-****8888", id="landline"),
    pytest.param("123", "123", id="too-short"),
])
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(("text", "masked"), [
    pytest.param("电话13812345678，谢谢", "电话138****5678,谢谢", id="one"),
    pytest.param("138 1234 5678或0851-28888888", "138****5678或0851-****8888", id="two"),
    pytest.param("报酬200元 派单12", "报酬200元 派单12", id="none"),
])
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(("text", "redacted"), [
    pytest.param("阳光小区3栋2单元501室水管漏水，电话13812345678",
                 "阳光小区3栋水管漏水", id="full-address"),
    pytest.param("丁字口小区5幢1单元302 热水器坏了", "丁字口小区5幢 热水器坏了", id="bare-door"),
    pytest.param("洗马路12号灯泡坏了", "洗马路12号灯泡坏了", id="street-number-kept"),
    pytest.param("我住2单元501，另外3栋502也要修", "我住,另外3栋也要修", id="second-address"),
    pytest.param("501室漏水 0851-28888888", "漏水", id="door-only"),
    pytest.param("3栋 0851-28888888", "3栋", id="landline-after-building"),
])
def test_redact_need_text(text: str, redacted: str) -> None:
    assert redact_need_text(text, extract_need(text, CATEGORIES)) == redacted


@given(
    st.sampled_from(["阳光小区", "丁字口小区", "凤凰山小区", "碧云花园", ""]),
    st.integers(1, 30), st.integers(1, 9), st.integers(101, 3205),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", " ", "-"]),
)
def test_redaction_never_leaks_phone_or_door(place, building, unit, door, phone, sep) -> None:
    shown = f"{phone[:3]}{sep}{phone[3:7]}{sep}{phone[7:]}"
    text = f"求助：{place}{building}栋{unit}单元{door}室 水管漏水 电话{shown} 尽快"
    need_ = extract_need(text, CATEGORIES)
    redacted = redact_need_text(text, need_)
    assert phone not in redacted.replace(" ", "").replace("-", "")
    assert f"{door}室" not in redacted and f"{unit}单元" not in redacted
    assert f"{place}{building}栋" in redacted
    assert need_.phones == (phone,)


# --- normalisation -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "normal"), [
    pytest.param("＃１２：（备注）", "#12:(备注)", id="fullwidth"),
    pytest.param("  接\u200b12\u200d ", "接12", id="zero-width"),
    pytest.param("派单\u3000 12\t报酬", "派单 12 报酬", id="spaces"),
    pytest.param("a\r\n\n b\x00\x07c", "a\nbc", id="controls"),
    pytest.param("\ufeff@零工助手\u2005接12", "@零工助手 接12", id="bom-mention"),
])
def test_normalize(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


# --- robustness ----------------------------------------------------------------------------

COMMAND_TYPES = (
    PostNeed, ProxyPost, Dispatch, Assign, Redispatch, Cancel, Claim, Complete, Release, Rate,
    Help, Show, OpenOrders, MyOrders, Tally, Ranking, Register, Approve, Suspend, Malformed,
)
FRAGMENTS = st.sampled_from([
    "接", "接单", "派单", "指派", "取消", "完成", "评价", "登记", "查", "#", "＃", "12", "１２", "0012",
    "号", "单", "了", "!", " ", "\n", "\u2005", "\u200b", "@", "师傅", "谢谢", "阳光小区", "3栋", "2单元",
    "501室", "13812345678", "0851-", "报酬", "100元", "面议", "明天", "下午3点", "需要", "谁会", "空调",
    "马桶堵了", "【需求】", "发单", "求助:", "{{7*7}}", "'; DROP TABLE orders;--", "%s%n", "\x00", "😀",
    "\ud800", "[微笑]", "9" * 30, "十二",
])
MESSAGES = st.one_of(
    st.text(),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=4)), max_size=40).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, st.one_of(st.none(), MESSAGES))
def test_parse_message_never_raises(text: str, quote: str | None) -> None:
    result = parse_message(text, CATEGORIES, quote)
    assert result is None or isinstance(result, COMMAND_TYPES)
    if isinstance(result, Malformed):
        assert result.usage in USAGE_KEYS
    no = getattr(result, "no", None)
    assert no is None or 0 <= no <= 10**9
    if isinstance(result, Rate):
        assert 1 <= result.score <= 5


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), min_size=1, max_size=10).map("".join),
       st.integers(1, 100_000))
def test_parse_message_never_raises_on_long_text(unit: str, repeat: int) -> None:
    text = (unit * (100_000 // max(len(unit), 1) + 1))[: max(repeat, 1)]
    parse_message(text, CATEGORIES)
    redact_need_text(text, extract_need(text, CATEGORIES))


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)


HUGE = [
    pytest.param("阳光小区" * 25_000, id="places"),
    pytest.param("接" * 100_000, id="claim-word"),
    pytest.param("1" * 100_000, id="digits"),
    pytest.param("十" * 100_000, id="chinese-digits"),
    pytest.param("派单 " + "1" * 100_000, id="dispatch-digits"),
    pytest.param("谁会修空调 " * 16_000, id="needs"),
    pytest.param("3栋2单元" * 20_000, id="buildings"),
    pytest.param("1-1-1" * 20_000, id="dashes"),
    pytest.param(" \n\u200b" * 33_000, id="whitespace"),
    pytest.param("{{7*7}}'; DROP TABLE orders;--😀\x00" * 2_500, id="injection"),
    pytest.param("发单 " + "明天上午3点200元" * 10_000, id="explicit"),
    pytest.param("报酬" + "十" * 100_000, id="budget"),
    pytest.param("@" * 100_000, id="mentions"),
]


@pytest.mark.parametrize("text", HUGE)
def test_100kb_messages_parse_quickly(text: str) -> None:
    start = time.perf_counter()
    parse_message(text, CATEGORIES, quote=text)
    redact_need_text(text, extract_need(text, CATEGORIES))
    assert time.perf_counter() - start < 3.0


@pytest.mark.parametrize(
    "text, is_need",
    [
        ("家里要打扫卫生，擦玻璃，周六上午，价格面议，电话13600001111", True),
        ("空调坏了 13900001111", True),
        ("周叔叔要搬走了啊，舍不得", False),
        ("明天要停水", False),
        ("本人专业水电维修 电话13900001111", False),
    ],
    ids=["home-needs-cleaning", "keyword-and-phone", "moving-away-chat", "water-cut-notice", "worker-advert"],
)
def test_regression_needs_without_a_classic_intent_word(text, is_need):
    result = parse_message(text, CATEGORIES)
    assert isinstance(result, PostNeed) == is_need
