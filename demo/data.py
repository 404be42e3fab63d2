"""Fixed tables behind the demo data generator (demo/build.py): counties, departments, the
policy catalogue with realistic standards and documents, names, banks and bank failure reasons.

Everything here is plain data; the generator decides who gets what from a seeded RNG.
Document titles and numbers follow the real national documents where one exists; local
ones are plausible inventions (demo data, marked as such on every page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

# The demo's "today": fixed so that the same seed always gives the same database.
AS_OF = date(2026, 11, 20)
YEARS = tuple(range(2021, 2027))


@dataclass(frozen=True)
class County:
    code: str
    short: str                 # 鲁山县 (used in titles and department names)
    weight: float              # relative number of beneficiaries
    historical: tuple[tuple[str, int, int], ...] = ()  # (ID prefix, born from year, born to year)
    historical_share: float = 0.0
    surnames: str = ""         # extra local surnames


COUNTIES: tuple[County, ...] = (
    County("410423", "鲁山县", 1.0, (("412631", 1900, 1982),), 0.4),
    County("500241", "秀山县", 0.8, (("512330", 1900, 1987), ("513522", 1988, 1996)), 0.45,
           surnames="田杨冉彭白吴龙石"),
    County("530128", "禄劝县", 0.6, (), 0.0, surnames="李张王杨罗普毕"),
)
COUNTY_BY_CODE = {c.code: c for c in COUNTIES}

# Department key → (code suffix, name suffix after the county name)
DEPARTMENTS: dict[str, str] = {
    "CZJ": "财政局",
    "NYNCJ": "农业农村局",
    "MZJ": "民政局",
    "CL": "残疾人联合会",
    "RSJ": "人力资源和社会保障局",
    "LYJ": "林业局",
    "WJW": "卫生健康委员会",
    "XCZXJ": "乡村振兴局",
    "TYJRJ": "退役军人事务局",
    "ZJJ": "住房和城乡建设局",
}


@dataclass(frozen=True)
class PolicySpec:
    key: str
    name: str
    short_name: str            # ≤ 7 characters
    dept: str                  # key of DEPARTMENTS
    level: str                 # 中央/省/市/县
    budget_source: str
    beneficiaries: str
    standard: str              # text; {rate} / {monthly} / {b80} … filled per county and year
    document_title: str
    document_number: str
    document_url: str
    delivery: str              # 到户/到人
    period: str                # year/half/quarter
    group: str                 # population group the beneficiaries are drawn from
    weight: float              # relative number of beneficiaries per county
    model: str                 # per_mu / band / fixed / range
    unit: str
    # per_mu: base rate (元/亩) per county, yearly step, area range (亩)
    rate: dict[str, Decimal] = field(default_factory=dict)
    rate_step: Decimal = Decimal("0")
    area: tuple[Decimal, Decimal] = (Decimal("1"), Decimal("10"))
    # band: monthly amount per age band; fixed: monthly amount per county, yearly step
    bands: dict[int, Decimal] = field(default_factory=dict)
    monthly: dict[str, Decimal] = field(default_factory=dict)
    monthly_step: Decimal = Decimal("0")
    # range: amount per period, rounded to 10 yuan
    low: Decimal = Decimal("0")
    high: Decimal = Decimal("0")
    counties: tuple[str, ...] = ("410423", "500241", "530128")


D = Decimal
ALL = ("410423", "500241", "530128")

POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        "GDDL", "耕地地力保护补贴", "耕地地力补贴", "NYNCJ", "中央", "中央财政农业相关转移支付资金",
        "拥有耕地承包权的种地农民（含家庭农场、农民合作社）", "按确权承包耕地面积补贴，每亩{rate}元",
        "财政部 农业部关于全面推开农业“三项补贴”改革工作的通知", "财农〔2016〕26号",
        "http://nys.mof.gov.cn/zhengfuxinxi/czpjZhengCeFaBu_2_2/201604/t20160425_1964862.htm",
        "到户", "year", "farmer", 100, "per_mu", "元/亩",
        rate={"410423": D("108.50"), "500241": D("102.00"), "530128": D("96.80")}, rate_step=D("2.10"),
        area=(D("0.80"), D("14.00")),
    ),
    PolicySpec(
        "ZLYC", "实际种粮农民一次性补贴", "种粮一次性补贴", "NYNCJ", "中央", "中央财政",
        "实际承担农资价格上涨成本的种粮农民", "按实际种粮面积补贴，每亩{rate}元",
        "财政部 农业农村部关于下达实际种粮农民一次性补贴资金的通知", "财农〔2021〕30号",
        "http://nys.mof.gov.cn/czpjZhengCeFaBu_2_2/202106/t20210618_3722566.htm",
        "到户", "year", "farmer", 80, "per_mu", "元/亩",
        rate={"410423": D("14.20"), "500241": D("12.90"), "530128": D("11.60")}, rate_step=D("0.80"),
        area=(D("0.80"), D("14.00")),
    ),
    PolicySpec(
        "NJGZ", "农机购置与应用补贴", "农机购置补贴", "NYNCJ", "中央", "中央财政农业相关转移支付资金",
        "购买补贴范围内农机具的农民和农业生产经营组织", "按机具分档定额补贴，单台最高不超过3万元",
        "农业农村部办公厅 财政部办公厅关于印发《2021—2023年农机购置补贴实施指导意见》的通知", "农办计财〔2021〕8号",
        "http://www.moa.gov.cn/govpublic/CWS/202102/t20210224_6362158.htm",
        "到人", "year", "farmer", 3, "range", "元/台", low=D("800"), high=D("30000"),
    ),
    PolicySpec(
        "GLJT", "高龄津贴", "高龄津贴", "MZJ", "省", "省级和县级财政",
        "具有本县户籍、年满80周岁的老年人",
        "80—89周岁每人每月{b80}元，90—99周岁每人每月{b90}元，100周岁以上每人每月{b100}元，按季度发放",
        "关于建立80周岁以上老年人高龄津贴制度的通知", "民〔2018〕112号",
        "https://www.mca.gov.cn/", "到人", "quarter", "old", 10, "band", "元/人·月",
        bands={80: D("50"), 90: D("100"), 100: D("300")},
    ),
    PolicySpec(
        "KNCJ", "困难残疾人生活补贴", "残疾人生活补贴", "MZJ", "中央", "中央和地方财政",
        "低保家庭中的残疾人和其他困难残疾人", "每人每月{monthly}元，按季度发放",
        "国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见", "国发〔2015〕52号",
        "https://www.gov.cn/zhengce/content/2015-09/25/content_10184.htm",
        "到人", "quarter", "disabled", 6, "fixed", "元/人·月",
        monthly={"410423": D("70"), "500241": D("80"), "530128": D("70")}, monthly_step=D("5"),
    ),
    PolicySpec(
        "ZDCJ", "重度残疾人护理补贴", "残疾人护理补贴", "CL", "中央", "中央和地方财政",
        "残疾等级为一级、二级且需要长期照护的重度残疾人", "每人每月{monthly}元，按季度发放",
        "国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见", "国发〔2015〕52号",
        "https://www.gov.cn/zhengce/content/2015-09/25/content_10184.htm",
        "到人", "quarter", "disabled", 5, "fixed", "元/人·月",
        monthly={"410423": D("80"), "500241": D("90"), "530128": D("80")}, monthly_step=D("5"),
    ),
    PolicySpec(
        "CXYL", "城乡居民基础养老金", "基础养老金", "RSJ", "中央", "中央和地方财政",
        "年满60周岁、参加城乡居民基本养老保险的人员", "基础养老金每人每月{monthly}元，按季度发放",
        "国务院关于建立统一的城乡居民基本养老保险制度的意见", "国发〔2014〕8号",
        "https://www.gov.cn/zhengce/content/2014-02/26/content_8656.htm",
        "到人", "quarter", "senior", 60, "fixed", "元/人·月",
        monthly={"410423": D("108"), "500241": D("115"), "530128": D("103")}, monthly_step=D("5"),
    ),
    PolicySpec(
        "SLST", "森林生态效益补偿", "森林生态补偿", "LYJ", "中央", "中央财政林业改革发展资金",
        "国家级公益林的集体和个人所有者", "集体和个人所有的国家级公益林每亩每年{rate}元",
        "财政部 国家林业和草原局关于印发《林业改革发展资金管理办法》的通知", "财资环〔2021〕39号",
        "http://zyhj.mof.gov.cn/zcfb/202106/t20210602_3711845.htm",
        "到户", "year", "farmer", 25, "per_mu", "元/亩",
        rate={"410423": D("16.00"), "500241": D("16.00"), "530128": D("16.00")},
        area=(D("3.00"), D("80.00")),
    ),
    PolicySpec(
        "NCDB", "农村最低生活保障金", "农村低保", "MZJ", "中央", "中央财政困难群众救助补助资金",
        "家庭人均收入低于当地农村低保标准的困难群众", "按家庭人均收入与低保标准的差额补助，每人每月{low_m}—{high_m}元",
        "社会救助暂行办法", "国务院令第649号", "https://www.gov.cn/zhengce/2014-02/27/content_2624221.htm",
        "到户", "quarter", "poor", 12, "range", "元/人·季", low=D("300"), high=D("1500"),
    ),
    PolicySpec(
        "TKGY", "特困人员基本生活费", "特困供养金", "MZJ", "中央", "中央财政困难群众救助补助资金",
        "无劳动能力、无生活来源、无法定赡养扶养抚养义务人的老年人、残疾人和未成年人",
        "分散供养基本生活费每人每月{low_m}—{high_m}元，按季度发放",
        "国务院关于进一步健全特困人员救助供养制度的意见", "国发〔2016〕14号",
        "https://www.gov.cn/zhengce/content/2016-02/17/content_5042525.htm",
        "到人", "quarter", "poor", 3, "range", "元/人·季", low=D("1500"), high=D("2700"),
    ),
    PolicySpec(
        "TGHL", "新一轮退耕还林补助", "退耕还林补助", "LYJ", "中央", "中央财政",
        "实施新一轮退耕还林的农户", "退耕还林每亩补助1500元，分三次下达，本年度每亩{rate}元",
        "关于印发新一轮退耕还林还草总体方案的通知", "发改西部〔2014〕1772号",
        "https://www.ndrc.gov.cn/xxgk/zcfb/tz/201409/t20140926_964275.html",
        "到户", "year", "farmer", 15, "per_mu", "元/亩",
        rate={"410423": D("300.00"), "500241": D("300.00"), "530128": D("300.00")},
        area=(D("0.50"), D("12.00")),
    ),
    PolicySpec(
        "JHSY", "农村部分计划生育家庭奖励扶助金", "计生奖励扶助", "WJW", "中央", "中央和地方财政",
        "年满60周岁、只有一个子女或两个女孩的农村计划生育家庭夫妻", "每人每年{yearly}元",
        "关于印发全国农村部分计划生育家庭奖励扶助制度试点方案（试行）的通知", "国人口发〔2004〕21号",
        "https://www.nhc.gov.cn/", "到人", "year", "senior", 6, "fixed", "元/人·年",
        monthly={"410423": D("80"), "500241": D("80"), "530128": D("80")},
    ),
    PolicySpec(
        "DSZN", "独生子女父母奖励费", "独生子女奖励", "WJW", "省", "省级和县级财政",
        "领取《独生子女父母光荣证》的夫妻", "每人每年{yearly}元",
        "关于调整独生子女父母奖励费标准的通知", "豫卫家庭〔2019〕24号",
        "https://wsjkw.henan.gov.cn/", "到人", "year", "parent", 8, "fixed", "元/人·年",
        monthly={"410423": D("10"), "500241": D("10"), "530128": D("10")},
    ),
    PolicySpec(
        "YFFX", "优抚对象抚恤和生活补助", "优抚抚恤补助", "TYJRJ", "中央", "中央财政优抚对象补助经费",
        "残疾军人、烈士遗属、在乡复员军人等重点优抚对象", "按类别和等级定额发放，每人每季{low}—{high}元",
        "军人抚恤优待条例", "国务院 中央军委令第602号", "https://www.mva.gov.cn/",
        "到人", "quarter", "veteran", 2, "range", "元/人·季", low=D("1500"), high=D("9000"),
    ),
    PolicySpec(
        "CYST", "草原生态保护补助奖励", "草原生态补奖", "NYNCJ", "中央", "中央财政",
        "承包草原并履行禁牧或草畜平衡义务的牧民", "禁牧补助每亩每年{rate}元，草畜平衡奖励每亩每年2.5元",
        "农业农村部办公厅 财政部办公厅关于印发《第三轮草原生态保护补助奖励政策实施指导意见》的通知",
        "农办计财〔2021〕35号", "http://www.moa.gov.cn/", "到户", "year", "farmer", 20, "per_mu", "元/亩",
        rate={"530128": D("7.50")}, area=(D("20.00"), D("300.00")), counties=("530128",),
    ),
    PolicySpec(
        "GEJB", "孤儿基本生活费", "孤儿生活费", "MZJ", "中央", "中央财政困难群众救助补助资金",
        "社会散居孤儿和事实无人抚养儿童", "散居孤儿每人每月{monthly}元，按季度发放",
        "国务院办公厅关于加强孤儿保障工作的意见", "国办发〔2010〕54号",
        "https://www.gov.cn/zhengce/content/2010-11/18/content_1386.htm",
        "到人", "quarter", "child", 0.6, "fixed", "元/人·月",
        monthly={"410423": D("1000"), "500241": D("1050"), "530128": D("1000")}, monthly_step=D("30"),
    ),
    PolicySpec(
        "LSJZ", "临时救助金", "临时救助", "MZJ", "中央", "中央财政困难群众救助补助资金",
        "因意外事件、突发重大疾病等导致基本生活暂时出现严重困难的家庭或个人",
        "根据困难程度一次性救助{low}—{high}元", "国务院关于全面建立临时救助制度的通知", "国发〔2014〕47号",
        "https://www.gov.cn/zhengce/content/2014-10/24/content_9165.htm",
        "到人", "half", "poor", 2, "range", "元/人·次", low=D("300"), high=D("5000"),
    ),
    PolicySpec(
        "STHL", "生态护林员补助", "生态护林员补助", "LYJ", "中央", "中央财政林业草原生态保护恢复资金",
        "选聘为生态护林员的脱贫人口和监测对象", "每人每年{yearly}元，按季度考核发放",
        "关于开展建档立卡贫困人口生态护林员选聘工作的通知", "林规发〔2016〕35号",
        "https://www.forestry.gov.cn/", "到人", "quarter", "ranger", 2, "fixed", "元/人·月",
        monthly={"410423": D("667"), "500241": D("667"), "530128": D("833")},
    ),
    PolicySpec(
        "WFGZ", "农村危房改造补助", "危房改造补助", "ZJJ", "中央", "中央财政农村危房改造补助资金",
        "农村低收入群体等重点对象", "按改造方式分档补助，每户{low}—{high}元",
        "住房和城乡建设部 财政部 民政部 国家乡村振兴局关于做好农村低收入群体等重点对象住房安全保障工作的实施意见",
        "建村〔2021〕35号", "https://www.mohurd.gov.cn/", "到户", "year", "poor", 1, "range", "元/户",
        low=D("10000"), high=D("35000"),
    ),
    PolicySpec(
        "YLJH", "雨露计划职业教育补助", "雨露计划补助", "XCZXJ", "中央", "中央财政衔接推进乡村振兴补助资金",
        "脱贫家庭（含监测帮扶对象家庭）中接受中、高等职业教育的子女", "每生每学期{low}元",
        "关于加强雨露计划支持农村脱贫家庭新成长劳动力接受职业教育工作的意见", "国乡振发〔2022〕3号",
        "https://nrra.gov.cn/", "到人", "half", "student", 3, "range", "元/人·学期",
        low=D("1500"), high=D("1500"),
    ),
    PolicySpec(
        "TYSB", "农村籍退役士兵老年生活补助", "退役士兵补助", "TYJRJ", "中央", "中央财政优抚对象补助经费",
        "年满60周岁的农村籍退役士兵", "按服役年限每服役一年每月发放{monthly}元，按年度发放",
        "关于给部分农村籍退役士兵发放老年生活补助的通知", "民发〔2011〕110号",
        "https://www.mva.gov.cn/", "到人", "year", "veteran", 2, "range", "元/人·年",
        low=D("600"), high=D("4800"),
    ),
)
POLICY_BY_KEY = {p.key: p for p in POLICIES}

# Population groups: birth years (inclusive) so that the person fits the policy in every year
# 2021–2026 (an 高龄 person is 80 or older on 1 January 2021).
GROUP_BIRTH_YEARS: dict[str, tuple[int, int]] = {
    "farmer": (1941, 1995),
    "old": (1919, 1940),
    "senior": (1941, 1960),    # plus the "old" group in front
    "disabled": (1945, 2002),
    "poor": (1940, 2000),
    "child": (2009, 2018),
    "parent": (1968, 1990),
    "veteran": (1935, 1965),
    "ranger": (1968, 2002),
    "student": (2004, 2006),
}

# --- names ------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "皇甫", "令狐")
GIVEN_MALE = "伟强军勇杰涛明超刚平辉建国华文斌波宇浩鹏飞林峰志红德福生海东兵成俊亮春顺发永贵全"
GIVEN_FEMALE = "芳娟敏静丽艳霞燕玲桂英兰秀梅琴凤云珍红萍玉莲翠花春娥荣淑慧婷雪琳娜菊香"
OLD_FEMALE_GIVEN = ("秀英", "桂兰", "玉兰", "桂英", "秀兰", "凤英", "玉梅", "翠花", "秀珍", "淑珍")
OLD_MALE_GIVEN = ("德福", "建国", "长顺", "富贵", "振华", "有才", "国庆", "志刚", "金山", "永福")
MINORITY_MALE = ("买买提·吐尔逊", "艾力·阿不都", "吉克·曲布", "阿牛·木呷", "沙马·拉则", "阿苏·伍各")
MINORITY_FEMALE = ("阿依古丽·买买提", "古丽娜尔·艾力", "吉克·阿依莫", "阿果·伍沙", "沙马·阿芝")

# --- villages ---------------------------------------------------------------------------------

VILLAGE_WORDS = (
    "红星", "新华", "向阳", "和平", "太平", "石桥", "柳树", "黄土坡", "大坪", "青龙", "白鹤", "杨柳",
    "长岭", "东风", "光明", "团结", "新民", "双河", "三合", "龙潭", "凤凰", "桃园", "松林", "马鞍山",
)
VILLAGE_SUFFIXES = ("庄", "家沟", "家湾", "营", "寨", "坪", "店", "家岭", "楼")

# --- banks, cards, failures -------------------------------------------------------------------

BANKS: tuple[tuple[str, str, float], ...] = (
    ("中国农业银行", "622848", 0.30),
    ("农村信用社", "623059", 0.28),
    ("中国邮政储蓄银行", "621799", 0.22),
    ("中国建设银行", "621700", 0.10),
    ("中国工商银行", "622202", 0.10),
)

# The bank's words for a failed line, by the code admin/bank/reasons.py gives them (the result
# file carries only the words; the import classifies them).
FAILURES: dict[str, str] = {
    "ACCOUNT_CLOSED": "账户已销户",
    "ACCOUNT_FROZEN": "账户冻结（长期不动户）",
    "NAME_MISMATCH": "户名与账号不符",
    "NO_SUCH_ACCOUNT": "卡号不存在",
    "ACCOUNT_LIMIT": "二类账户超限额",
}
# Random failures (the systematic ones are old cards closed shortly before payment).
FAILURE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("ACCOUNT_FROZEN", 0.35), ("NAME_MISMATCH", 0.25), ("NO_SUCH_ACCOUNT", 0.15),
    ("ACCOUNT_LIMIT", 0.15), ("ACCOUNT_CLOSED", 0.10),
)
# What the department notes when it corrects a failed line before the re-issue (by failure code;
# "new_card" when the person brought a new card).
CORRECTION_NOTES: dict[str, str] = {
    "new_card": "本人已补办社会保障卡，登记新卡号后补发",
    "ACCOUNT_CLOSED": "已核实账户状态，按原账户重新发放",
    "ACCOUNT_FROZEN": "本人已到银行解除冻结，按原账户重新发放",
    "NAME_MISMATCH": "已与银行核对户名，按原账户重新发放",
    "NO_SUCH_ACCOUNT": "已核对卡号无误，按原账户重新发放",
    "ACCOUNT_LIMIT": "本人已到银行调整账户限额，按原账户重新发放",
}
FAILURE_RATE = 0.018
