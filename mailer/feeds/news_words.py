"""The words that tell what a bio-industry headline is about: places, events, conditions, setbacks.

Kept apart from :mod:`mailer.feeds.story_facts`, which reads them, so the lists can grow
(a new regulator, a new disease) without touching the reading. Korean words match
anywhere in the headline; Latin ones as words or word prefixes (see ``Vocabulary``).
"""

from __future__ import annotations

# fmt: off

#: Where news happens; a story naming one and another naming only others are about
#: different places (an approval in China is not the approval in Brazil).
REGIONS = {
    "us": ("미국", "fda", "us", "u.s", "american", "美"),
    "eu": ("유럽", "ema", "chmp", "ec", "eu", "european", "europe"),
    "cn": ("중국", "nmpa", "china", "chinese", "beijing", "shanghai"),
    "jp": ("일본", "pmda", "japan", "japanese"),
    "kr": ("식약처", "mfds"),
    "de": ("독일", "germany", "german"),
    "uk": ("영국", "mhra", "britain", "uk"),
    "ca": ("캐나다", "canada"),
    "br": ("브라질", "anvisa", "brazil"),
    "in": ("인도", "india"),
    "au": ("호주", "australia"),
    "sa": ("사우디", "saudi"),
    "vn": ("베트남", "vietnam"),
    "th": ("태국", "thailand"),
    "id": ("인도네시아", "indonesia"),
    "tw": ("대만", "taiwan"),
    "sg": ("싱가포르", "singapore"),
    "ch": ("스위스", "switzerland", "swiss"),
    "fr": ("프랑스", "france", "french"),
    "mx": ("멕시코", "mexico"),
    "ru": ("러시아", "russia"),
    "tr": ("튀르키예", "터키", "turkey"),
    "ae": ("아랍에미리트", "uae"),
    "songdo": ("송도",),
    "osong": ("오송",),
    "pangyo": ("판교",),
    "siheung": ("시흥", "배곧"),
    "daejeon": ("대전",),
    "indiana": ("indiana",),
    "virginia": ("virginia",),
    "northcarolina": ("north carolina",),
}

#: What happens in a story. Two stories whose headlines name events, none shared, are
#: two pieces of news ("허가" and "출시" of one drug; a deal and a trial of one company).
EVENTS = {
    "approval": ("허가", "승인", "허가권고", "긍정의견", "approv", "nod", "clear", "green light", "authoriz"),
    "filing": ("신청", "제출", "접수", "filing", "files", "filed", "submit", "nda", "bla"),
    "launch": ("출시", "발매", "launch"),
    "trial": ("임상", "투약", "trial", "phase", "study", "data", "readout", "mid-stage", "late-stage"),
    "deal": (
        "계약", "체결", "기술이전", "기술수출", "라이선스", "인수", "합병", "m&a", "품었", "품에", "제휴", "협약", "mou", "맞손",
        "수주", "deal", "acquir", "acquisition", "buy", "merger", "licens", "partner", "snaps up",
        "독점권",
    ),
    "financing": (
        "유치", "조달", "시리즈", "ipo", "상장", "입성", "공모가", "raise", "funding", "financing",
        "launches with",
    ),
    "results": (
        "매출", "영업이익", "영업익", "순이익", "실적", "revenue", "sales", "earnings", "profit", "results",
        "quarter",
    ),
    "meeting": (
        "개최", "세미나", "포럼", "행사", "설명회", "심포지엄", "컨퍼런스", "박람회", "개막", "conference", "summit",
        "forum", "symposium",
    ),
    "building": ("착공", "공장", "건설", "증설", "준공", "첫 삽", "plant", "site", "facility", "manufacturing"),
}

#: Diseases and uses: one drug approved for sleep apnea and for weight management is two
#: approvals. Spellings of one condition share an entry.
CONDITIONS = {
    "obesity": ("비만", "obesity", "weight loss", "weight-loss", "weight management"),
    "diabetes": ("당뇨", "diabetes"),
    "alzheimer": ("알츠하이머", "치매", "alzheimer"),
    "parkinson": ("파킨슨", "parkinson"),
    "lung cancer": ("폐암", "lung cancer", "nsclc"),
    "liver cancer": ("간암", "liver cancer", "hepatocellular"),
    "liver disease": ("간질환", "mash", "nash", "liver disease", "pbc", "cholangitis"),
    "breast cancer": ("유방암", "breast cancer"),
    "myeloma": ("골수종", "myeloma"),
    "melanoma": ("흑색종", "melanoma"),
    "gout": ("통풍", "gout"),
    "hair loss": ("탈모", "hair loss", "alopecia"),
    "epilepsy": ("뇌전증", "epilepsy", "seizure"),
    "hiv": ("hiv", "에이즈"),
    "flu": ("독감", "인플루엔자", "flu", "influenza"),
    "covid": ("코로나", "covid"),
    "rsv": ("rsv",),
    "eczema": ("아토피", "eczema", "dermatitis"),
    "sleep apnea": ("수면무호흡", "sleep apnea"),
    "pain": ("통증", "진통", "pain"),
    "schizophrenia": ("조현병", "schizophrenia"),
    "dmd": ("뒤센", "duchenne"),
    "cystic fibrosis": ("낭포성 섬유증", "cystic fibrosis"),
    "psoriasis": ("건선", "psoriasis"),
}

#: A setback: the news that something did not happen is not the news that it did.
SETBACK_WORDS = ("불발", "거절", "반려", "실패", "보완요구", "지연", "연기", "미뤄", "좌절", "중단", "철회", "취소", "무산",
                 "포기", "미충족", "reject", "complete response", "crl", "delay", "fail", "halt",
                 "setback", "refus")

# fmt: on
