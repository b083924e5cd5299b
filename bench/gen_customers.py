"""Synthetic labelled customer sheets with the noise of exported CRM/spreadsheet data.

    python bench/gen_customers.py 100000 --out /tmp/customers.csv [--seed 1] [--noise 1.0]

Columns match tests/data/customers.dev.csv: row_id,name,company,phone,email,source,true_contact,
true_company. Noise: phone formats (+86, 0086, dashes, spaces, dots, tel:, full-width digits, landlines
with area codes), company names with or without legal forms, city prefixes, bracketed cities, spaces,
brand-only short names, homophone typos in brands, industries and given names, traditional characters,
contacts as full names or surname + title, missing fields, and different firms that share a brand in
other cities. `--noise` scales every typo/format probability (2.0 = twice as noisy).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

BRAND_CHARS = (
    "恒嘉源仁通联明宏禾金永康兴致博远景信达华创新德安泰瑞盛辰开元毅精卓智汇天宇纳启科普海弘睿利中鼎"
    "长丰正星万同宏川广鸿晨佳合美益诚和顺昌隆祥富贵荣福润泽锦绣腾飞鹏凯旭阳光耀辉煌东南西北方圆"
    "立业成功嘉宝华夏汉唐宋明清秦楚越吴蜀燕赵齐鲁晋豫粤闽浙湘鄂皖赣云贵川黔桂琼津沪渝京冀辽吉黑"
    "蒙宁青甘陕藏疆港澳台欣怡雅韵清风雨露霜雪冰山水木火土石玉珠翠宝鑫淼焱森磊品晶晟昊昱曜璟璞瑾"
)
INDUSTRIES = (
    "医疗器械",
    "智能装备",
    "包装材料",
    "宠物用品",
    "电子商务",
    "汽车服务",
    "医疗科技",
    "网络科技",
    "新能源",
    "环保科技",
    "软件",
    "食品",
    "物流",
    "模具",
    "信息技术",
    "精密机械",
    "建材",
    "生物工程",
    "教育科技",
    "数控机床",
    "贸易",
    "文化传媒",
    "光电科技",
    "化工",
    "服饰",
    "家居",
    "农业科技",
    "供应链管理",
    "电气",
    "建筑工程",
)
CITIES = (
    "北京",
    "上海",
    "天津",
    "重庆",
    "广州",
    "深圳",
    "杭州",
    "宁波",
    "温州",
    "嘉兴",
    "绍兴",
    "苏州",
    "无锡",
    "常州",
    "南京",
    "合肥",
    "福州",
    "厦门",
    "济南",
    "青岛",
    "郑州",
    "武汉",
    "长沙",
    "成都",
    "西安",
    "沈阳",
    "大连",
    "昆明",
    "佛山",
    "东莞",
    "南昌",
    "太原",
    "石家庄",
    "哈尔滨",
    "长春",
    "南宁",
    "贵阳",
    "兰州",
    "珠海",
    "中山",
    "惠州",
    "泉州",
    "烟台",
    "潍坊",
    "徐州",
    "南通",
    "扬州",
    "台州",
    "金华",
    "洛阳",
)
LEGAL = ("有限公司", "有限责任公司", "股份有限公司", "公司", "", "")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏晨浩宇欣凯斌辉建峰倩婷雪琳晶颖国民兰波方俊"
TITLES = ("总", "总监", "科长", "主任", "经理", "工", "老师")
SOURCES = ("rep_entry", "phone_call", "excel_import", "expo_scan", "web_form", "wechat_import")
AREA_CODES = (
    "010",
    "021",
    "022",
    "023",
    "020",
    "0755",
    "0571",
    "0574",
    "0512",
    "025",
    "027",
    "028",
    "029",
    "024",
)
FULLWIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）　")


class _Sounds:
    """Homophones of a character (for typos), built from pypinyin when it is installed."""

    def __init__(self, chars: str) -> None:
        self.alike: dict[str, list[str]] = {}
        try:
            from pypinyin import lazy_pinyin
        except ImportError:  # the benchmark still runs, with fewer typos
            return
        pool = set(chars + GIVEN + "鸣和源园元搏锐玮韬阳洁莉蕾锋君墙禹化民晶静波芳华达大远源新信星兴惠汇慧")
        groups: dict[str, list[str]] = defaultdict(list)
        for ch in sorted(pool):
            groups[lazy_pinyin(ch)[0]].append(ch)
        for members in groups.values():
            for ch in members:
                others = [m for m in members if m != ch]
                if others:
                    self.alike[ch] = others

    def typo(self, text: str, rng: random.Random) -> str:
        spots = [i for i, ch in enumerate(text) if ch in self.alike]
        if not spots:
            return text
        i = rng.choice(spots)
        return text[:i] + rng.choice(self.alike[text[i]]) + text[i + 1 :]


def _traditional() -> object | None:
    try:
        import opencc

        return opencc.OpenCC("s2t")
    except ImportError:
        return None


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if number not in used:
            used.add(number)
            return number


def _landline(rng: random.Random) -> str:
    area = rng.choice(AREA_CODES)
    return area + f"{rng.randrange(10**7, 10**8)}"


def _format_phone(digits: str, rng: random.Random, noise: float) -> str:
    if digits.startswith("0"):
        area = digits[:3] if digits[1] in "12" else digits[:4]
        local = digits[len(area) :]
        return rng.choice(
            (
                f"{area}-{local}",
                f"({area}){local[:4]}-{local[4:]}",
                f"{area} {local}",
                digits,
                f"+86-{area}-{local[:4]}-{local[4:]}",
                f"+86 {digits}",
            )
        )
    text = rng.choice(
        (
            f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
            digits,
            f"+86-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
            f"{digits[:3]} {digits[3:7]} {digits[7:]}",
            f"+86 {digits}",
        )
    )
    roll = rng.random()
    if roll < 0.03 * noise:
        text = f"0086 {digits}"
    elif roll < 0.06 * noise:
        text = f"tel:{digits[:3]}.{digits[3:7]}.{digits[7:]}"
    elif roll < 0.09 * noise:
        text = text.translate(FULLWIDTH)
    return text


class Generator:
    def __init__(self, seed: int = 1, noise: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.noise = noise
        self.sounds = _Sounds(BRAND_CHARS)
        self.t2 = _traditional()

    def _company_text(self, brand: str, industry: str, city: str) -> str:
        rng, noise = self.rng, self.noise
        if rng.random() < 0.05 * noise:
            brand = self.sounds.typo(brand, rng)
        if rng.random() < 0.01 * noise:
            industry = self.sounds.typo(industry, rng)
        core = brand + industry
        legal = rng.choice(LEGAL)
        form = rng.random()
        if form < 0.30:
            text = f"{city}{core}{legal}"
        elif form < 0.45:
            text = f"{core}({city}){legal or '有限公司'}"
        elif form < 0.52:
            text = f"{core}（{city}）{legal or '有限公司'}"
        elif form < 0.62:
            text = f"{city} {core} {legal or '有限公司'}"
        elif form < 0.67:
            text = f"{city}市{core}{legal}"
        elif form < 0.97:
            text = f"{core}{legal}"
        else:
            text = brand  # the brand alone, as reps say it
        if self.t2 is not None and rng.random() < 0.03 * noise:
            text = self.t2.convert(text)  # type: ignore[attr-defined]
        return text

    def _name_text(self, surname: str, given: str) -> str:
        rng, noise = self.rng, self.noise
        roll = rng.random()
        if roll < 0.07 * noise:
            return ""
        if roll < 0.07 * noise + 0.17:
            return surname + rng.choice(TITLES)
        if rng.random() < 0.05 * noise:
            given = self.sounds.typo(given, rng)
        text = surname + given
        if self.t2 is not None and rng.random() < 0.02 * noise:
            text = self.t2.convert(text)  # type: ignore[attr-defined]
        return text

    def rows(self, n: int) -> Iterator[list[str]]:
        rng = self.rng
        used_mobiles: set[str] = set()
        brands_used: dict[tuple[str, str], list[str]] = defaultdict(list)
        written = company_id = contact_id = 0
        while written < n:
            # a firm; sometimes another city's firm of the same brand and industry
            if brands_used and rng.random() < 0.04:
                brand, industry = rng.choice(list(brands_used)[-200:])
                city = rng.choice([c for c in CITIES if c not in brands_used[(brand, industry)]] or CITIES)
            else:
                brand = "".join(rng.sample(BRAND_CHARS, 2))
                industry = rng.choice(INDUSTRIES)
                city = rng.choice(CITIES)
            brands_used[(brand, industry)].append(city)
            company_id += 1
            switchboard = _landline(rng) if rng.random() < 0.2 else None
            domain = f"e{rng.randrange(16**6):06x}.cn"
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                contact_id += 1
                surname, given = rng.choice(SURNAMES), "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2, 2))))
                mobile = _mobile(rng, used_mobiles)
                desk = switchboard if switchboard and rng.random() < 0.5 else None
                email = f"u{contact_id}@{domain}" if rng.random() < 0.25 else ""
                for _ in range(min(12, max(1, int(rng.expovariate(1 / 2.2)) + 1))):
                    roll = rng.random()
                    phone_digits = "" if roll < 0.14 * self.noise else desk if desk and roll < 0.3 else mobile
                    yield [
                        f"s{written:08d}",
                        self._name_text(surname, given),
                        self._company_text(brand, industry, city),
                        _format_phone(phone_digits, rng, self.noise) if phone_digits else "",
                        email if rng.random() < 0.6 else "",
                        rng.choice(SOURCES),
                        str(contact_id),
                        str(company_id),
                    ]
                    written += 1
                    if written >= n:
                        return


HEADER = ["row_id", "name", "company", "phone", "email", "source", "true_contact", "true_company"]


def write_sheet(path: Path, n: int, seed: int = 1, noise: float = 1.0) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(Generator(seed, noise).rows(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="生成带标注的合成客户表")
    parser.add_argument("rows", type=int)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=1.0)
    args = parser.parse_args(argv)
    write_sheet(args.out, args.rows, args.seed, args.noise)
    return 0


if __name__ == "__main__":
    sys.exit(main())
